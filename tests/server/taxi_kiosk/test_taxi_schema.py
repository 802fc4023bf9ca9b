"""The taxi tables (the Alembic migration on its own branch creates exactly what the models describe) and the
kind's server settings (mistakes name the key)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from server.db.migrate import head_revisions, load_all_models, upgrade
from server.db.models import Base
from server.settings import SettingsError
from server.taxi_kiosk.settings import taxi_settings


def test_migration_matches_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    load_all_models()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "taxi" in repr(d)] == []
    assert {"taxi_orders", "taxi_order_steps"} <= set(inspect(engine).get_table_names())
    assert "taxi_kiosk_0001" in head_revisions()


def test_kind_settings_mistakes_name_the_key() -> None:
    assert taxi_settings({}).provider == "none"  # no platform unless one is configured: kiosks show the hotline
    with pytest.raises(SettingsError, match=r"kinds\.taxi_kiosk\.provder: unknown key"):
        taxi_settings({"taxi_kiosk": {"provder": "sim"}})
    with pytest.raises(SettingsError, match=r"kinds\.taxi_kiosk\.sim\.accept_prob: Input should be less than"):
        taxi_settings({"taxi_kiosk": {"sim": {"accept_prob": 2}}})
