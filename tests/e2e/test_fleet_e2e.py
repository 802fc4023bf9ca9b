"""End to end across the whole spine, with real parts: a probe agent (the same code a Pi runs, pins driven from
outside through gpiozero's mock factory) → real Mosquitto with ACL → server ingest → SQLite / PostgreSQL → REST API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device

from edge.apps.probe.sim import ProbeSim
from edge.hal.pins import setup_pin_factory
from edge.runtime.harness import AgentFactory
from linli.contract.probe import AutoOff, InputChanged
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.testing import LiveServer, make_settings, running


@pytest.fixture(autouse=True)
def _fresh_pins() -> Iterator[None]:
    setup_pin_factory("mock")
    Device.pin_factory.reset()
    yield
    Device.pin_factory.reset()


@pytest.fixture
def agents(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[AgentFactory]:
    f = AgentFactory(mqtt_broker, tmp_path / "agents", site="e2e")
    yield f
    f.close()


def _server(tmp_path: Path, db_url: str, broker: TestBroker, client_id: str):
    return create_app(make_settings(tmp_path / "srv", db_url, broker, client_id=client_id))


def _mark(tag: str, i: int) -> InputChanged:
    """A contract event that the test can tell apart (the probe kind's input event with a made-up input name)."""
    return InputChanged(input=tag, active=True, count=i)


def _stream(ls: LiveServer, device: str) -> list[dict]:
    return [e for e in _events(ls, device, InputChanged.EVENT.type) if e["data"]["input"] == "e2e-stream"]


def _events(ls: LiveServer, device: str, type_: str | None = None) -> list[dict]:
    """Every stored event of a device, following the API's pagination."""
    params: dict = {"site": "e2e", "device": device, "limit": 500}
    if type_:
        params["type"] = type_
    out: list[dict] = []
    with ls.client() as c:
        while True:
            r = c.get("/api/v1/events", params=params)
            r.raise_for_status()
            body = r.json()
            out += body["items"]
            if not body.get("next_cursor"):
                return out
            params["cursor"] = body["next_cursor"]


def test_button_press_reaches_the_api_and_a_command_reaches_the_relay(tmp_path, db_url, mqtt_broker, agents):
    with running(_server(tmp_path, db_url, mqtt_broker, "e2e-a")) as ls:
        agent = agents.make()
        dev = agent.ref.device
        sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
        with ls.client() as c:
            wait_for(lambda: any(d["device"] == dev and d["online"] for d in c.get("/api/v1/devices").json()),
                     10, what="device online in the API")
        sim.click()
        sim.click()
        def presses() -> list[dict]:
            return [e for e in _events(ls, dev, "probe.input") if e["data"]["active"]]

        wait_for(lambda: len(presses()) >= 2, 10, what="two presses stored")
        assert [e["data"]["count"] for e in sorted(presses(), key=lambda e: e["ts"])] == [1, 2]

        with ls.client("maint") as c:
            r = c.post(f"/api/v1/devices/e2e/probe/{dev}/commands", json={"name": "set", "args": {"on": True}})
            assert r.status_code == 202, r.text
            cmd_id = r.json()["id"]
            wait_for(sim.relay_on, 10, what="relay energised by the server's command")
            done = wait_for(lambda: (j := c.get(f"/api/v1/commands/{cmd_id}").json())["state"] != "sent"
                            and j["state"] != "pending" and j, 10, what="command result")
            assert done["state"] == "ok" and done["by"] == "maint"
            audit = c.get("/api/v1/audit").status_code
            assert audit == 403  # maintenance staff may send commands but not read the audit log
        with ls.client("admin") as c:
            rows = c.get("/api/v1/audit").json()
            rows = rows["items"] if isinstance(rows, dict) else rows
            assert any(r.get("who") == "maint" and cmd_id in str(r) for r in rows)


def test_broker_outage_every_event_arrives_exactly_once(tmp_path, db_url, mqtt_broker, agents):
    with running(_server(tmp_path, db_url, mqtt_broker, "e2e-b")) as ls:
        agent = agents.make()
        dev = agent.ref.device
        with ls.client() as c:
            wait_for(lambda: any(d["device"] == dev and d["online"] for d in c.get("/api/v1/devices").json()),
                     10, what="device online")
        ids = [agent.emit(_mark("e2e-before", i)).id for i in range(5)]
        mqtt_broker.broker.stop()
        try:
            ids += [agent.emit(AutoOff(held_s=i) if i % 10 == 0 else _mark("e2e-during", i)).id for i in range(40)]
            time.sleep(0.5)
            assert agent.outbox.depth() >= 40  # held on the device while the broker is down
        finally:
            mqtt_broker.broker.start()
        ids += [agent.emit(_mark("e2e-after", i)).id for i in range(5)]
        wanted = set(ids)
        wait_for(lambda: len([e for e in _events(ls, dev) if e["id"] in wanted]) >= len(ids), 30,
                 what="all 50 events in the database")
        time.sleep(0.5)
        stored = [e for e in _events(ls, dev) if e["id"] in wanted]
        assert sorted(e["id"] for e in stored) == sorted(ids)  # none lost, none twice
        ob = agent.outbox
        try:
            wait_for(lambda: ob.depth() == 0, 10, what="outbox drained")
        except AssertionError as exc:  # say what is left, so that a failure on a loaded CI machine can be read
            again = agent.link.stats.get("publish_retransmits")
            raise AssertionError(f"{exc}: {ob.depth()} waiting, {ob.inflight()} in flight, connected "
                                 f"{agent.link.connected}, retransmits {again}") from exc


def test_server_restart_while_the_agent_publishes_loses_nothing(tmp_path, db_url, mqtt_broker, agents):
    agent = agents.make()
    dev = agent.ref.device
    ids: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            ids.append(agent.emit(_mark("e2e-stream", i)).id)
            i += 1
            time.sleep(0.02)

    prod = threading.Thread(target=produce, daemon=True)
    with running(_server(tmp_path, db_url, mqtt_broker, "e2e-c"), forget=False):
        prod.start()
        time.sleep(1.0)
    # server down (its broker session kept): the agent goes on publishing
    time.sleep(1.0)
    with running(_server(tmp_path, db_url, mqtt_broker, "e2e-c")) as ls:
        time.sleep(1.0)
        stop.set()
        prod.join(5)
        assert len(ids) > 80
        wait_for(lambda: len(_stream(ls, dev)) >= len(ids), 30, what="every event stored")
        time.sleep(0.5)
        stored = [e["id"] for e in _stream(ls, dev)]
        assert sorted(stored) == sorted(ids)
