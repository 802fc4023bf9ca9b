"""The README's wiring table is what the example configs wire: every input and relay pin of config/<kind>.yaml,
with the same BCM number, and nothing the configs do not have."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
ROW = re.compile(r"^\| (\w+) \| (input|relay) `(\w+)`( read-back)? \| (\d+) \|", re.M)


def _documented() -> set[tuple[str, str, str, int]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Install on a Raspberry Pi"):]
    out = {(m[1], m[2] + (" read-back" if m[4] else ""), m[3], int(m[5])) for m in ROW.finditer(section)}
    for m in re.finditer(r"^\| probe \| input `(\w+)` / relay `(\w+)` \| (\d+) / (\d+) \|", section, re.M):
        out |= {("probe", "input", m[1], int(m[3])), ("probe", "relay", m[2], int(m[4]))}
    return out


def _wired() -> set[tuple[str, str, str, int]]:
    out = set()
    for kind in ("lift_guard", "gate", "charger", "taxi_kiosk", "probe"):
        hal = yaml.safe_load((ROOT / "config" / f"{kind}.yaml").read_text(encoding="utf-8")).get("hal", {})
        for name, spec in (hal.get("inputs") or {}).items():
            out.add((kind, "input", name, int(spec["pin"])))
        for name, spec in (hal.get("relays") or {}).items():
            out.add((kind, "relay", name, int(spec["pin"])))
            if spec.get("readback_pin") is not None:
                out.add((kind, "relay read-back", name, int(spec["readback_pin"])))
    return out


def test_the_wiring_table_matches_the_configs() -> None:
    documented, wired = _documented(), _wired()
    assert wired - documented == set(), "pins in config/ missing from README's wiring table"
    assert documented - wired == set(), "README's wiring table names pins the configs do not have"
