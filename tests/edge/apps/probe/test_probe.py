"""The built-in probe kind, and the kind registry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from edge.apps import APPS, AppNotFound, load_app
from edge.apps.probe.app import ProbeApp
from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract import Kind
from linli.testing import wait_for


def test_registry_loads_probe_and_names_missing_kinds_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_app("probe") is ProbeApp and ProbeApp.kind is Kind.probe
    monkeypatch.setitem(APPS, Kind.gate, "edge.apps.no_such_kind.app:GateApp")
    with pytest.raises(AppNotFound, match=r"^no app is installed for kind 'gate' \(edge\.apps\.no_such_kind\.app"):
        load_app(Kind.gate)
    monkeypatch.setitem(APPS, Kind.gate, "edge.apps.probe.app:NoSuchClass")
    with pytest.raises(AppNotFound, match=r"is not an edge\.apps\.base\.App subclass"):
        load_app("gate")
    monkeypatch.setitem(APPS, Kind.gate, "edge.apps.probe.app:ProbeApp")
    with pytest.raises(AppNotFound, match="declares kind"):
        load_app("gate")
    with pytest.raises(AppNotFound, match="unknown kind 'toaster'"):
        load_app("toaster")


def test_presses_are_counted_and_reported(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    for _ in range(3):
        sim.click()
    wait_for(lambda: a.app.presses == 3, 5, what="3 presses")
    evs = recorder.wait(lambda: (e := recorder.events(a.ref, "probe.input"))[5:] and e, what="6 input events")
    assert [e.data["count"] for e in evs if e.data["active"]] == [1, 2, 3]
    assert a.app.gauges() == {"presses": 3, "relay_on": False, "button_active": False}


def test_pulse_and_set_drive_the_relay_pin(agents: AgentFactory) -> None:
    a = agents.make()
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    res = a.runner.run_local("pulse", {"seconds": "0.2"}, by="local:t")
    assert res.ok and res.result == {"seconds": 0.2} and sim.relay_on()
    wait_for(lambda: not sim.relay_on(), 2, what="end of pulse")
    assert a.runner.run_local("set", {"on": "true"}, by="local:t").ok and sim.relay_on()
    assert a.app.state() == "output_on"
    assert a.runner.run_local("set", {"on": "false"}, by="local:t").ok and not sim.relay_on()


def test_held_output_switches_itself_off(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make(app={"max_on_s": 0.5, "loop_interval_s": 0.05})
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    t0 = time.monotonic()
    assert a.runner.run_local("set", {"on": True}, by="local:t").ok
    wait_for(lambda: not sim.relay_on(), 3, what="auto off")
    assert time.monotonic() - t0 >= 0.45
    ev = recorder.wait(lambda: recorder.events(a.ref, "probe.auto_off"), what="probe.auto_off")[0]
    assert ev.severity == "warning"


def test_stop_leaves_the_relay_off(agents: AgentFactory) -> None:
    a = agents.make()
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    a.runner.run_local("set", {"on": True}, by="local:t")
    assert sim.relay_on()
    a.app.stop()
    assert not sim.relay_on()
    a.stop()
    a.stop()  # twice is fine


def test_config_change_of_wiring_is_refused_at_run_time(agents: AgentFactory) -> None:
    a = agents.make(start=False)
    cfg: Any = a.app.cfg
    with pytest.raises(ValueError, match="cannot change while running"):
        a.app.apply_config(cfg.model_copy(update={"output": "other"}))
    a.app.apply_config(cfg.model_copy(update={"pulse_max_s": 1.0}))
    assert a.app.cfg.pulse_max_s == 1.0


def test_page_fragment_in_both_languages(agents: AgentFactory) -> None:
    a = agents.make(start=False)
    zh = a.app.page_fragment("zh")
    en = a.app.page_fragment("en")
    assert "按键次数" in zh and "脉冲 0.5 秒" in zh and 'action="/actions/pulse"' in zh
    assert "Button presses" in en and "Pulse 0.5 s" in en
    assert set(a.app.commands()) == {"pulse", "set"} and all(s.local for s in a.app.commands().values())
