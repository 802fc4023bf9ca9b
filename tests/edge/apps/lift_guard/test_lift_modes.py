"""Lift modes: any non-normal mode input (inspection, fire recall, emergency electric operation, earthquake) that
is active — or cannot be read — switches blocking off and keeps the hold relay released. The guard on gpiozero
mock pins, driven like the lift controller would."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.apps.lift_guard.config import LiftGuardConfig
from edge.apps.lift_guard.evidence import EvidenceStore
from edge.apps.lift_guard.guard import Guard
from edge.apps.lift_guard.pipeline import FrameResult
from edge.apps.lift_guard.sim import LiftSim
from edge.apps.lift_guard.voice import Prompter
from edge.hal import Hal, HalConfig
from edge.runtime.clock import SYSTEM_CLOCK
from edge.vision import Detection, HealthState, Track
from linli.contract import EventData
from linli.contract import lift_guard as ev

MODES = {"insp": "inspection", "fire": "fire_recall", "emer": "emergency_electric", "quake": "earthquake"}
PINS = 20  # mock pins 20-26 (BCM numbers; the mock factory has 0-27)


def hal_doc() -> dict[str, Any]:
    inputs: dict[str, Any] = {"door_open": {"pin": PINS, "pull_up": True, "bounce_ms": 0}}
    for i, name in enumerate(MODES):  # fail-safe wiring: contact closed in normal service, active when it opens
        inputs[name] = {"pin": PINS + 1 + i, "pull_up": True, "active_state": True, "bounce_ms": 0}
    return {"pin_factory": "mock", "inputs": inputs, "relays": {"door_hold": {"pin": PINS + 6}},
            "speaker": {"backend": "record"}}


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: EventData, blobs: Any = ()) -> None:
        self.events.append((event.EVENT.type, event.model_dump(mode="json")))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [d for t, d in self.events if t == type_]


@pytest.fixture
def lift(tmp_path: Path) -> Iterator[tuple[Guard, LiftSim, Hal, Sink]]:
    hcfg = HalConfig.model_validate(hal_doc())
    cfg = LiftGuardConfig.model_validate(
        {"inhibit_inputs": [{"input": n, "mode": m} for n, m in MODES.items()],
         "voice": {"enabled": False}}, context={"hal": hcfg})
    with Hal(hcfg) as hal:
        sim = LiftSim(hcfg, cfg)
        sim.set_door(True)
        for name in MODES:
            sim.set_inhibit(name, False)
        sink = Sink()
        guard = Guard(cfg, hal.relays["door_hold"], hal.inputs["door_open"],
                      {n: hal.inputs[n] for n in cfg.inhibit_names}, Prompter(cfg.voice, hal.speaker), sink,
                      EvidenceStore(tmp_path / "snaps", 30), SYSTEM_CLOCK, logging.getLogger("test.modes"))
        hal.inputs["door_open"].on_change(guard.door_changed)
        for n in cfg.inhibit_names:
            hal.inputs[n].on_change(guard.inhibit_changed)
        yield guard, sim, hal, sink


def ebike_frame(seq: int) -> tuple[FrameResult, Any]:
    import numpy as np

    d = Detection("motorcycle", 0.8, (200, 200, 400, 470), "ebike")
    t = Track(id=1, cls="ebike", label="motorcycle", box=d.box, score=0.8, first_ts=0.0, last_ts=0.2,
              window=deque([0.8, 0.8]), best_score=0.8, confirmed_ts=0.2, detection=d, first_inside_ts=0.0)
    res = FrameResult(seq=seq, ts=0.2, width=640, height=480, health=HealthState(), detected=True, detections=[d],
                      tracks=[t])
    return res, np.zeros((480, 640, 3), np.uint8)


@pytest.mark.parametrize("name", list(MODES))
def test_each_lift_mode_releases_the_relay_at_once_and_blocks_nothing_until_normal(
        lift: tuple[Guard, LiftSim, Hal, Sink], name: str) -> None:
    guard, sim, _hal, sink = lift
    guard.on_frame(*ebike_frame(1))
    assert sim.relay_on() and guard.state() == "blocking"
    sim.set_inhibit(name, True)  # the controller leaves normal service
    assert not sim.relay_on()  # dropped in the input's own callback, before anything else
    rel = sink.of(ev.RELEASE)[-1]
    assert rel["reason"] == "inhibit" and rel["note"] == f"{MODES[name]}: {name}"
    assert guard.state() == "disabled" and guard.view()["lift_modes"] == [MODES[name]]
    guard.on_frame(*ebike_frame(2))  # the e-bike is still there: no block in a non-normal mode
    guard.tick()
    assert not sim.relay_on() and len(sink.of(ev.BLOCK)) == 1
    guard.test_relay(1.0)  # not even a wiring test pulse
    assert not sim.relay_on()
    sim.set_inhibit(name, False)  # back to normal service
    guard.on_frame(*ebike_frame(3))
    assert sim.relay_on() and len(sink.of(ev.BLOCK)) == 2


def test_an_unreadable_mode_input_counts_as_a_non_normal_mode(lift: tuple[Guard, LiftSim, Hal, Sink]) -> None:
    guard, sim, hal, sink = lift
    guard.on_frame(*ebike_frame(1))
    assert sim.relay_on()
    hal.inputs["quake"].close()  # the driver lost it: it cannot be read
    guard.tick()
    assert not sim.relay_on() and guard.inhibited() == ["quake"] and guard.view()["lift_modes"] == ["earthquake"]
    assert sink.of(ev.RELEASE)[-1]["reason"] == "inhibit"
    guard.on_frame(*ebike_frame(2))
    assert not sim.relay_on() and guard.state() == "disabled"


def test_a_cut_wire_reads_as_the_mode_active_with_fail_safe_wiring(lift: tuple[Guard, LiftSim, Hal, Sink]) -> None:
    guard, sim, _hal, _sink = lift
    pin, _level = sim.inhibit_pins["fire"]
    sim.board.set_input(pin, True)  # contact open or wire cut: the pull-up takes the pin high
    assert guard.inhibited() == ["fire"]
    guard.on_frame(*ebike_frame(1))
    assert not sim.relay_on()


def test_mode_inputs_config_accepts_names_and_refuses_duplicates() -> None:
    hcfg = HalConfig.model_validate(hal_doc())
    cfg = LiftGuardConfig.model_validate({"inhibit_inputs": ["fire", {"input": "insp", "mode": "inspection"}]},
                                         context={"hal": hcfg})
    assert cfg.inhibit_names == ["fire", "insp"] and cfg.mode_of("fire") == "other"
    assert cfg.mode_of("insp") == "inspection"
    with pytest.raises(ValueError, match="listed twice"):
        LiftGuardConfig.model_validate({"inhibit_inputs": ["fire", "fire"]}, context={"hal": hcfg})
    with pytest.raises(ValueError, match="mode"):
        LiftGuardConfig.model_validate({"inhibit_inputs": [{"input": "fire", "mode": "party"}]},
                                       context={"hal": hcfg})


def test_the_page_names_lift_modes_and_a_suspect_view_in_words(lift: tuple[Guard, LiftSim, Hal, Sink]) -> None:
    from edge.apps.lift_guard.page import render

    guard, sim, _hal, _sink = lift
    sim.set_inhibit("emer", True)
    kw: dict[str, Any] = {"cfg": guard.cfg, "live": None, "live_at": None, "recent": [], "model": "m",
                          "model_error": None, "fps": 5.0, "detect_ms": 20.0, "suspect": ["frozen"]}
    zh = render("zh", view=guard.view(), **kw)
    en = render("en", view=guard.view(), **kw)
    assert "紧急电动运行" in zh and "emergency electric operation" in en and "emer" not in zh.replace("emergency", "")
    assert "画面冻结" in zh and "picture frozen" in en and 'id="lg-suspect"' in en
