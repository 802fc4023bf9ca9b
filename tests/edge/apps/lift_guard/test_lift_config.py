"""The lift guard's config (errors name the key and what is allowed), schedule windows, event payloads, evidence
retention, and a corrupt model: the agent stays up, reports the fault and never energises the relay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.apps.lift_guard.config import LiftGuardConfig, ScheduleConfig
from edge.apps.lift_guard.evidence import EvidenceStore
from edge.apps.lift_guard.schedule import enabled_at
from edge.hal import HalConfig
from edge.runtime.config import ConfigError, parse_config
from edge.runtime.harness import Recorder
from linli.contract import Channel, ContractError, Kind, parse_event_data
from linli.contract import lift_guard as ev
from linli.testing import wait_for
from tests.edge.apps.lift_guard.conftest import LiftFactory, lift_app, lift_hal


def _parse(app: dict[str, object], hal: dict[str, object] | None = None) -> object:
    doc = {"site": "s1", "kind": "lift_guard", "device": "l1",
           "mqtt": {"password_env": "X"}, "local_page": {"enabled": False},
           "hal": hal or lift_hal(Path("car.mp4")), "app": app}
    return parse_config(doc, "lift.yaml")


def test_config_errors_name_the_file_the_key_and_what_is_allowed() -> None:
    assert isinstance(_parse(lift_app()).app_cfg, LiftGuardConfig)  # type: ignore[attr-defined]
    cases = [
        ({"door_input": "door"}, "lift.yaml: app.door_input: no input named 'door' in hal.inputs (have: door_open, "
                                 "fire_service)"),
        ({"hold_relay": "x"}, "app.hold_relay: no relay named 'x'"),
        ({"camera": "lobby"}, "app.camera: no camera named 'lobby'"),
        ({"inhibit_inputs": ["door_open"]}, "cannot be both the door input and an inhibit input"),
        ({"classes": {"map": {"motorcycle": "ebike"}, "acting": ["toaster"]}}, "app.classes: acting class"),
        ({"classes": {"map": {"motorcycle": "moped"}, "acting": ["moped"]}}, "unknown class(es) moped"),
        ({"confirm": {"n": 6, "m": 5}}, "confirm.n (6) cannot be larger than confirm.m (5)"),
        ({"region": {"polygon": [[0, 0], [2, 0], [1, 1]]}}, "outside the frame"),
        ({"schedule": {"windows": [{"start": "25:00"}]}}, "is not a time"),
        ({"detector": {"kind": "yolov7", "model": "m.onnx"}}, "app.detector.kind: Input should be"),
        ({"max_hold_s": 0}, "app.max_hold_s: Input should be greater than or equal to 1"),
        ({"relase_frames": 5}, "app.relase_frames: unknown key (allowed: camera, door_input"),
    ]
    for over, msg in cases:
        with pytest.raises(ConfigError) as exc:
            _parse(lift_app(**over))
        assert msg in str(exc.value), (over, str(exc.value))


def test_schedule_windows_in_shanghai_time_including_past_midnight() -> None:
    sh = timedelta(hours=8)

    def at(day: int, hh: int, mm: int = 0) -> datetime:  # 2026-11-23 is a Monday (Shanghai)
        return datetime(2026, 11, 23 + day, hh, mm, tzinfo=UTC) - sh

    always = ScheduleConfig()
    assert enabled_at(always, at(0, 3))
    evening = ScheduleConfig.model_validate({"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                                           "start": "17:00", "end": "23:00"}]})
    assert enabled_at(evening, at(0, 17)) and enabled_at(evening, at(4, 22, 59))
    assert not enabled_at(evening, at(0, 16, 59)) and not enabled_at(evening, at(0, 23))
    assert not enabled_at(evening, at(5, 18))  # Saturday
    night = ScheduleConfig.model_validate({"windows": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]})
    assert enabled_at(night, at(4, 23)) and enabled_at(night, at(5, 5, 59))  # Friday night into Saturday
    assert not enabled_at(night, at(5, 23)) and not enabled_at(night, at(0, 3))


def test_event_payloads_are_validated_both_ways() -> None:
    with pytest.raises(ContractError):
        parse_event_data(Kind.lift_guard, ev.BLOCK, {"block_id": "x", "cls": "ebike"})
    with pytest.raises(ContractError, match="reason"):
        parse_event_data(Kind.lift_guard, ev.RELEASE, {"block_id": "01M7Z4DX9DN5Y5C1JENXECNZ0S", "reason": "because",
                                                       "hold_s": 1, "cls": "e", "best_score": 0.5})
    with pytest.raises(ContractError, match="not in the contract"):
        parse_event_data(Kind.lift_guard, "lift.nope", {})
    f = parse_event_data(Kind.lift_guard, ev.FAULT, {"fault": "black", "detail": "d", "relay_released": True})
    assert isinstance(f, ev.Fault) and f.fault == "black" and f.event_severity() == "alarm"
    with pytest.raises(ValidationError):
        ev.BlockStarted.model_validate({"block_id": "x", "cls": "ebike"})


def test_evidence_store_keeps_records_and_purges_after_retention(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "snaps", retention_days=30)
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    store.save_block("01M7Z4DX9DN5Y5C1JENXECNZ0S", now - timedelta(days=40), b"\xff\xd8\xffold", {"cls": "ebike"})
    rec = store.save_block("01M7Z4DX9DN5Y5C1JENXECNZ1T", now, b"\xff\xd8\xffnew", {"cls": "ebike"})
    store.update_block(rec.block_id, now, reason="cleared", hold_s=3.0, open=False)
    recent = store.recent()
    assert [r.block_id for r in recent] == ["01M7Z4DX9DN5Y5C1JENXECNZ1T", "01M7Z4DX9DN5Y5C1JENXECNZ0S"]
    assert recent[0].data["reason"] == "cleared" and recent[0].jpeg is not None and recent[0].started == now
    assert store.usage()[0] == 2
    assert store.purge(now) == 1
    assert [r.block_id for r in store.recent()] == ["01M7Z4DX9DN5Y5C1JENXECNZ1T"]


def test_a_corrupt_model_is_a_fault_the_agent_reports_and_the_relay_stays_off(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path], tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07 not a model")
    labels = "models/ssd_mobilenet_v2_coco_quant/coco_labels.txt"
    lift = lifts.make(clip_video("bike_stays"), detector={"model": str(bad), "labels": labels})
    a = lift.agent
    e = recorder.wait(lambda: recorder.events(a.ref, ev.FAULT), 10, what="detector fault")[0]
    assert e.data["fault"] == "detector" and "cannot be loaded by onnxruntime" in e.data["detail"]
    wait_for(lambda: a.app.loop.pipeline.frames >= 20, 10, what="frames still checked for camera health")
    assert not lift.sim.relay_on() and a.app.state() == "fault" and a.app.model_version() is None
    assert "cannot be loaded" in a.app.page_fragment("zh")


def test_hal_config_of_the_example_file_is_valid() -> None:
    import yaml

    doc = yaml.safe_load(Path("config/lift_guard.yaml").read_text(encoding="utf-8"))
    hal = HalConfig.model_validate(doc["hal"])
    cfg = LiftGuardConfig.model_validate(doc["app"], context={"hal": hal})
    assert cfg.classes.acting == ["ebike"] and cfg.detector.sha256 is not None


def test_remote_config_tunes_the_guard_live_and_refuses_rewiring(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    lift = lifts.make(clip_video("empty"))
    a = lift.agent
    assert a.link.wait_connected(10)
    recorder.desired(a.ref, 1, {"confirm": {"threshold": 0.8, "n": 2, "m": 4}, "max_hold_s": 60,
                                "voice": {"repeat_s": 15}})
    rep = recorder.wait(lambda: [r for r in recorder.payloads(Channel.config_reported, a.ref) if r.version == 1],
                        what="config reported")[0]
    assert rep.ok and a.app.cfg.confirm.threshold == 0.8 and a.app.guard.cfg.max_hold_s == 60
    assert a.app.loop.pipeline.confirmer.cfg.n == 2 and a.app.prompter.cfg.repeat_s == 15
    recorder.desired(a.ref, 2, {"hold_relay": "other"})
    rep = recorder.wait(lambda: [r for r in recorder.payloads(Channel.config_reported, a.ref) if r.version == 2],
                        what="refusal reported")[0]
    assert not rep.ok and "hold_relay" in rep.error and a.app.cfg.hold_relay == "door_hold"
    recorder.desired(a.ref, 3, {"detector": {"model": "models/other.onnx"}})
    rep = recorder.wait(lambda: [r for r in recorder.payloads(Channel.config_reported, a.ref) if r.version == 3],
                        what="refusal reported")[0]
    assert not rep.ok and "detector cannot change while running" in rep.error
