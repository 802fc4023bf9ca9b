"""Stuck-loop detection: relays to safe, an alarm event, safe held until the loop is back; systemd pings."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import AgentFactory, Recorder
from edge.runtime.watchdog import Watchdog
from linli.testing import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_trips_once_holds_safe_and_recovers() -> None:
    clock = FakeClock()
    trips: list[tuple[str, float]] = []
    recovered: list[str] = []
    safe_calls: list[int] = []
    wd = Watchdog(2.0, lambda n, s: trips.append((n, s)), recovered.append, keep_safe=lambda: safe_calls.append(1),
                  systemd=False, clock=clock)
    wd.kick("cam")
    wd.watch("loop", timeout_s=5.0)
    clock.t += 1.5
    assert wd.check() == [] and not wd.tripped
    clock.t += 1.0  # cam: 2.5 s > 2 s
    assert wd.check() == ["cam"] and wd.tripped and trips == [("cam", 2.5)]
    assert wd.check() == [] and len(trips) == 1 and safe_calls == [1]  # held safe, not tripped again
    wd.kick("cam")
    assert not wd.tripped and recovered == ["cam"]
    clock.t += 4.0
    assert wd.check() == ["cam", "loop"]
    wd.unwatch("cam")
    wd.unwatch("loop")
    clock.t += 100
    assert wd.check() == [] and not wd.tripped


def test_disabled_never_trips() -> None:
    clock = FakeClock()
    wd = Watchdog(1.0, lambda n, s: pytest.fail("tripped"), enabled=False, systemd=False, clock=clock)
    wd.kick("x")
    clock.t += 10
    assert wd.check() == []


def test_systemd_notify_only_while_alive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(path))
    srv.settimeout(0.3)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    clock = FakeClock()
    wd = Watchdog(1.0, lambda n, s: None, clock=clock)
    try:
        wd.kick("x")
        wd.check()
        assert srv.recv(100) == b"WATCHDOG=1"
        clock.t += 5
        assert wd.check() == ["x"]  # stuck: no more pings, so systemd restarts a hung agent
        wd.check()
        with pytest.raises(TimeoutError):
            srv.recv(100)
        wd.start()
        assert srv.recv(100) == b"READY=1"
        wd.stop()
        assert srv.recv(100) == b"STOPPING=1"
    finally:
        wd.stop()
        srv.close()


def test_stuck_app_loop_drops_relays_and_raises_an_alarm(agents: AgentFactory, recorder: Recorder) -> None:
    a = agents.make(watchdog={"timeout_s": 0.4, "systemd": False})
    assert a.link.wait_connected(10)
    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    a.hal.relays["output"].on()
    assert sim.relay_on()
    release = threading.Event()
    real_tick = a.app._tick
    a.app._tick = lambda: release.wait(10)  # the loop gets stuck
    try:
        ev = recorder.wait(lambda: recorder.events(a.ref, "watchdog.tripped"), 5, what="watchdog.tripped")[0]
        assert ev.severity == "alarm" and ev.data["loop"] == "probe" and ev.data["action"] == "relays_safe"
        assert not sim.relay_on()
        a.hal.relays["output"].on()  # something else switches it on while the loop is stuck...
        wait_for(lambda: not sim.relay_on(), 2, what="the watchdog to hold the relay safe")
        assert a.figures()["watchdog_tripped"] is True
    finally:
        a.app._tick = real_tick
        release.set()
    recorder.wait(lambda: recorder.events(a.ref, "watchdog.recovered"), 5, what="watchdog.recovered")
    assert not a.watchdog.tripped
