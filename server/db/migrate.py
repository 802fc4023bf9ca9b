"""Alembic migrations, applied programmatically (at startup and by ``linli server --migrate-only``).

New revision after changing a model (review the file it writes, then commit it)::

    LINLI_DATABASE_URL=sqlite:///var/server/linli.db \\
        alembic -c server/db/alembic.ini revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from linli.contract import Kind

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Cross-cutting tables (users, work orders) that live outside the device kinds (their own "ops" branch).
OPS_MODELS = ("server.users.models", "server.workorders.models", "server.updates.models",
              "server.payments.models")
#: PostgreSQL advisory lock key held while migrating, so that several workers starting at once take turns.
PG_MIGRATION_LOCK = 0x6C696E6C69  # "linli"


def load_all_models() -> None:
    """Import the core models and every ``server.<kind>.models`` that exists (they share ``Base.metadata``)."""
    importlib.import_module("server.db.models")
    for name in OPS_MODELS:
        importlib.import_module(name)
    for kind in Kind:
        name = f"server.{kind.value}.models"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(name)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> tuple[str, ...]:
    """The newest revision of every branch (each device kind adds its tables on its own branch)."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revision(engine: Engine) -> str | None:
    """The revisions in force, comma-separated when several branches are applied; None on an empty database."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) if heads else None


def upgrade(engine: Engine, revision: str = "heads") -> str | None:
    """Bring the database to ``revision`` (default: every branch's newest). Returns the revisions now in force.

    Device kinds add their tables in their own Alembic branch (``down_revision = "0001"``, ``branch_labels =
    ("<kind>",)``), so kinds developed side by side never create conflicting heads."""
    before = current_revision(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)
    after = current_revision(engine)
    if after != before:
        log.info("database migrated %s → %s", before or "(empty)", after)
    return after
