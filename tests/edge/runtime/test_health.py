"""Heartbeat figures: SoC temperature, gauge cleaning, telemetry into the outbox at the droppable priority."""

from __future__ import annotations

import threading
from pathlib import Path

from edge.runtime.health import HealthSampler, Heartbeat, clean_gauges, read_soc_temp
from edge.runtime.outbox import PRIORITY_TELEMETRY, Outbox
from linli.contract import Channel, DeviceRef, Kind, Telemetry, decode

REF = DeviceRef("t-site", Kind.probe, "hb1")


def test_soc_temperature_when_readable(tmp_path: Path) -> None:
    f = tmp_path / "temp"
    f.write_text("48312\n")
    assert read_soc_temp(f) == 48.312
    f.write_text("garbage")
    assert read_soc_temp(f) is None
    assert read_soc_temp(tmp_path / "missing") is None


def test_gauges_are_cleaned_to_what_the_contract_accepts() -> None:
    g = clean_gauges({"ok": 1, "f": 2.5, "b": True, "s": "x" * 300, "n": None, "nan": float("nan"),
                      "list": [1], "x" * 65: 1, **{f"g{i}": i for i in range(300)}})
    assert g["ok"] == 1 and g["b"] is True and len(g["s"]) == 200 and g["n"] is None and g["nan"] is None
    assert "list" not in g and "x" * 65 not in g and len(g) == 200


def test_heartbeat_enqueues_telemetry_with_health_and_gauges(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    temp = tmp_path / "temp"
    temp.write_text("51000")
    sampler = HealthSampler(tmp_path, ob, temp_path=temp)
    hb = Heartbeat(REF, 60, sampler, ob, lambda: {"fps": 4.5, "presses": 2}, threading.Event())
    hb.beat()
    (row,) = ob.take(5)
    assert row.topic == REF.telemetry_topic and row.qos == 0 and row.priority == PRIORITY_TELEMETRY
    tm = decode(Channel.telemetry, row.payload)
    assert isinstance(tm, Telemetry)
    assert tm.health.soc_temp_c == 51.0 and tm.health.fps == 4.5 and tm.health.outbox_depth == 0
    assert tm.health.rss_mb > 10 and tm.gauges == {"fps": 4.5, "presses": 2}


def test_failing_gauges_do_not_stop_the_heartbeat(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")

    def broken() -> dict[str, float]:
        raise RuntimeError("sensor gone")

    hb = Heartbeat(REF, 60, HealthSampler(tmp_path, ob), ob, broken, threading.Event())
    assert hb.beat().gauges == {} and ob.depth() == 1
