"""A probe agent against the real Mosquitto, watched by a subscriber with the server's account."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract import Channel, Status
from linli.contract.probe import InputChanged
from linli.testing import wait_for

if TYPE_CHECKING:
    from linli.testing import TestBroker


def test_birth_status_telemetry_and_input_event(agents: AgentFactory, recorder: Recorder,
                                                 mqtt_broker: TestBroker) -> None:
    a = agents.make(telemetry_interval_s=0.2)
    assert a.link.wait_connected(10)
    # a subscriber that comes later still gets the retained birth status
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [a.ref.status_topic]) as late:
        msg = late.wait(lambda: late.on(Channel.status, a.ref), what="retained status")[0]
        assert msg.retain
        st = msg.decoded()
        assert isinstance(st, Status)
        assert st.state == "online" and st.kind.value == "probe" and st.software and st.hostname
        assert st.config_version == a.desired.version_tag() and st.boot_time is not None

    tms = recorder.wait(lambda: recorder.payloads(Channel.telemetry, a.ref)[1:], what="two telemetry messages")
    h = tms[-1].health
    assert h.cpu_pct >= 0 and 0 < h.mem_pct <= 100 and h.rss_mb > 10 and 0 < h.disk_pct <= 100
    assert h.uptime_s > 0 and h.outbox_dropped == 0
    assert tms[-1].gauges == {"presses": 0, "relay_on": False, "button_active": False,
                              "outbox_lost": 0, "outbox_held": 0}

    sim = ProbeSim(a.cfg.hal, a.app.cfg)
    sim.click()
    sim.click()
    evs = recorder.wait(lambda: (e := recorder.events(a.ref, "probe.input"))[3:] and e, what="4 input events")
    assert [(e.data["active"], e.data["count"]) for e in evs] == [(True, 1), (False, 1), (True, 2), (False, 2)]
    tm = recorder.wait(lambda: [t for t in recorder.payloads(Channel.telemetry, a.ref) if t.gauges["presses"] == 2],
                       what="telemetry with the presses")
    assert tm


def test_events_produced_while_the_broker_is_down_all_arrive_in_order(
        agents: AgentFactory, recorder: Recorder, mqtt_broker: TestBroker) -> None:
    a = agents.make()
    assert a.link.wait_connected(10)
    stop = threading.Event()
    sent: list[str] = []

    def produce() -> None:
        n = 0
        while not stop.is_set():
            sent.append(a.emit(InputChanged(input="seq", active=True, count=n)).id)
            n += 1
            time.sleep(0.01)

    t = threading.Thread(target=produce)
    t.start()
    try:
        time.sleep(0.3)
        mqtt_broker.broker.stop()
        try:
            wait_for(lambda: not a.link.connected, 5, what="the agent to notice")
            time.sleep(1.0)
            assert a.outbox.depth() > 0  # kept while the broker is away
        finally:
            mqtt_broker.broker.start()
        assert a.link.wait_connected(10)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    wait_for(lambda: a.outbox.depth() == 0, 15, what="outbox drained")
    recorder.wait(lambda: len({e.id for e in recorder.events(a.ref, "probe.input")}) >= len(sent), 10,
                  what=f"all {len(sent)} events")
    seen: list[int] = []
    ids: set[str] = set()
    for e in recorder.events(a.ref, "probe.input"):
        if e.id not in ids:  # a QoS 1 re-send may arrive twice; ingest is idempotent by id
            ids.add(e.id)
            seen.append(e.data["count"])
    assert seen == list(range(len(sent)))
    assert a.stats.get("mqtt_connects") == 2
    st = recorder.wait(lambda: [s for s in recorder.payloads(Channel.status, a.ref) if s.state == "online"][1:],
                       what="a birth status after the reconnect")
    assert st


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    return subprocess.Popen([sys.executable, "-m", "linli.cli", "agent", "-c", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True)


def test_lwt_on_abrupt_kill_and_stopping_on_sigterm(agents: AgentFactory, recorder: Recorder,
                                                     tmp_path: Path) -> None:
    ref, path = agents.config()

    def states() -> list[str]:
        return [s.state for s in recorder.payloads(Channel.status, ref)]

    p = _spawn(path, tmp_path / "run1.log")
    try:
        recorder.wait(lambda: "online" in states(), 20, what="online")
        p.kill()  # as a crash or power cut: no DISCONNECT, the broker publishes the LWT
        p.wait(5)
        recorder.wait(lambda: states()[-1] == "offline", 10, what="offline (LWT)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)

    n = len(states())
    p = _spawn(path, tmp_path / "run2.log")
    try:
        recorder.wait(lambda: "online" in states()[n:], 20, what="online again")
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        recorder.wait(lambda: states()[-1] == "stopping", 10, what="stopping")
        time.sleep(0.3)
        assert states()[-1] == "stopping"  # a clean disconnect: no LWT after it
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    log = (tmp_path / "run2.log").read_text()
    assert "signal SIGTERM: stopping" in log and "stopped" in log
