"""Every way out of an agent leaves the relays safe first."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract import Channel
from linli.testing import wait_for


def test_stop_order_relays_safe_then_stopping_status(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    a.hal.relays["output"].on()
    calls: list[str] = []
    real_safe, real_link_stop = a.hal.all_relays_safe, a.link.stop

    def safe() -> None:
        calls.append("relays_safe")
        real_safe()

    def link_stop(flush_s: float = 2.0) -> None:
        assert not sim.relay_on()
        calls.append("link.stop")
        real_link_stop(flush_s)

    a.hal.all_relays_safe = safe  # type: ignore[method-assign]
    a.link.stop = link_stop  # type: ignore[method-assign]
    a.stop()
    assert calls[0] == "relays_safe" and "link.stop" in calls
    assert calls.index("link.stop") > 0
    recorder.wait(lambda: [s for s in recorder.payloads(Channel.status, a.ref) if s.state == "stopping"],
                  what="stopping status")


def test_an_exception_on_the_way_still_leaves_relays_safe(agents: AgentFactory) -> None:
    a = agents.make(start=False)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    a.hal.relays["output"].on()
    assert sim.relay_on()

    def broken_start() -> None:
        raise RuntimeError("camera not found")

    a.app.start = broken_start  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="camera not found"):
        a.run_forever()
    assert not sim.relay_on()
    assert a.hal._closed  # pins released


def test_run_forever_until_asked_to_exit(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make(start=False)
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", a.run_forever()))
    t.start()
    try:
        recorder.wait(lambda: [s for s in recorder.payloads(Channel.status, a.ref) if s.state == "online"],
                      what="online")
        a.runner.run_local("set", {"on": True}, by="local:t")
    finally:
        a.request_exit()
        t.join(10)
    assert result == {"rc": 0}
    wait_for(lambda: [s for s in recorder.payloads(Channel.status, a.ref) if s.state == "stopping"], 5,
             what="stopping")
    assert not ProbeSim(a.cfg.hal, a.app.cfg).relay_on()
