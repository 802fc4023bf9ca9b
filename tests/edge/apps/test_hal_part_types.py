"""An app config names its device's hardware through one set of field types (RelayName, InputName, CameraName,
SerialName): a wrong name is refused at the exact key, in every kind, and no kind writes its own validator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.runtime.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("kind,key,value,where", [
    ("gate", ("app", "lanes", "in", "open_relay"), "nope", "app.lanes.in.open_relay"),
    ("charger", ("app", "coin_input"), "nope", "app.coin_input"),
    ("lift_guard", ("app", "hold_relay"), "nope", "app.hold_relay"),
    ("probe", ("app", "button"), "nope", "app.button"),
    ("taxi_kiosk", ("app", "button"), "nope", "app.button"),
])
def test_a_wrong_part_name_is_refused_at_its_key(kind: str, key: tuple[str, ...], value: str, where: str) -> None:
    doc = yaml.safe_load((ROOT / "config" / f"{kind}.yaml").read_text(encoding="utf-8"))
    node = doc
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    with pytest.raises(ConfigError) as err:
        parse_config(doc, f"config/{kind}.yaml")
    assert where in str(err.value) and "nope" in str(err.value)


def test_no_app_config_writes_its_own_part_check() -> None:
    for cfg in (ROOT / "edge" / "apps").glob("*/config.py"):
        assert "check_hal_part(" not in cfg.read_text(encoding="utf-8"), f"{cfg}: use RelayName/InputName/…"
