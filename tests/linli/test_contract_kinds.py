"""Every kind declares its part of the contract completely: event types with a model, a severity and names in
Chinese and English (units only on numeric fields), commands with names and senders, and a name for every fault,
state and reason its models allow."""

from __future__ import annotations

import typing

import pytest

from linli.contract import KINDS, RUNTIME_EVENTS, EventData, Kind, all_event_models, charger, gate, label, lift_guard
from linli.contract import taxi_kiosk as taxi


def _literal(t: object) -> set[str]:
    return {a for a in typing.get_args(t) if isinstance(a, str)}


@pytest.mark.parametrize("model", sorted(all_event_models().values(), key=lambda m: m.EVENT.type),
                         ids=lambda m: m.EVENT.type)
def test_each_event_type_is_declared_with_names_severity_and_units(model: type[EventData]) -> None:
    info = model.EVENT
    assert info.zh and info.en and info.zh != info.en
    assert info.severity in ("info", "warning", "alarm")
    assert model.model_config.get("extra") == "forbid"
    for name in info.units:
        ann = str(model.model_fields[name].annotation)
        assert "int" in ann or "float" in ann, f"{info.type}: unit on non-numeric field {name}"


def test_event_types_belong_to_their_kind() -> None:
    prefixes = {Kind.lift_guard: ("lift.",), Kind.gate: ("gate.", "door."), Kind.charger: ("charger.",),
                Kind.taxi_kiosk: ("taxi.",), Kind.probe: ("probe.",)}
    for kind, kc in KINDS.items():
        for t in kc.event_models:
            assert t.startswith(prefixes[kind]), t
            assert t not in RUNTIME_EVENTS


def test_every_value_people_see_has_a_name() -> None:
    assert _literal(lift_guard.FaultKind) | {"max_hold"} == set(lift_guard.FAULTS)
    assert _literal(lift_guard.ReleaseReason) == set(lift_guard.RELEASE_REASONS)
    assert _literal(charger.FaultKind) == set(charger.FAULTS)
    assert _literal(charger.StopReason) == set(charger.STOP_REASONS)
    assert {s.value for s in taxi.OrderState} <= set(taxi.ORDER_STATES)
    assert _literal(gate.Decision) == set(gate.DECISIONS)
    for kc in KINDS.values():
        for table in (kc.faults, kc.states, kc.gauges):
            for key, lab in table.items():
                assert lab.zh and lab.en, key


def test_labels_resolve_patterns_and_runtime_names() -> None:
    assert label(Kind.charger, "gauges", "p3_w") == charger.GAUGES["p*_w"]
    assert label(Kind.charger, "gauges", "p3_w").unit == "W"  # type: ignore[union-attr]
    assert label(Kind.gate, "gauges", "lane_in_state") == gate.GAUGES["lane_*_state"]
    assert label(Kind.probe, "gauges", "cpu_pct") is not None  # health, common to every kind
    assert label(Kind.probe, "states", "running") is not None
    assert label(Kind.lift_guard, "faults", "nope") is None


def test_severity_rules_follow_the_data() -> None:
    now = "2026-12-05T08:00:00+00:00"
    assert charger.Fault(fault="smoke").event_severity() == "alarm"
    assert charger.Fault(fault="smoke", active=False).event_severity() == "info"
    assert charger.Fault(fault="meter_counter_reset").event_severity() == "warning"
    base = {"block_id": "01M7Z4DX9DN5Y5C1JENXECNZ0S", "hold_s": 1, "cls": "ebike", "best_score": 0.9}
    assert lift_guard.BlockEnded.model_validate({**base, "reason": "max_hold"}).event_severity() == "alarm"
    assert lift_guard.BlockEnded.model_validate({**base, "reason": "cleared"}).event_severity() == "info"
    assert gate.DoorAccess(door="d", at=now, reason="card_valid", granted=False).event_severity() == "warning"
    assert gate.DoorFire(door="d", at=now, reason="fire_alarm_unlocked").event_severity() == "alarm"
