"""Taxi kiosk test support: real agents on pooled kiosk devices (real broker, real SQLite, real HTTP), the server
played by a Recorder that reads the kiosk's events and sends ``order_update`` commands as the dispatcher would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.runtime.agent import Agent
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract import DeviceRef
from linli.contract.taxi_kiosk import CMD_ORDER_UPDATE
from linli.merge import deep_merge
from linli.testing import TestBroker, wait_for

SITE = "t-taxi"
BUTTON_PIN = 22
HAL = {"inputs": {"call_button": {"pin": BUTTON_PIN, "pull_up": True, "bounce_ms": 5}}, "relays": {},
       "speaker": {"backend": "record"}}
APP: dict[str, Any] = {
    "place": {"name": "曹杨新村东门", "name_en": "Caoyang east gate", "pickup_point": "东门候车点",
              "pickup_point_en": "the east gate taxi bay", "lat": 31.24035, "lon": 121.41452},
    "kiosk_page": {"port": 0},
    "timing": {"no_answer_s": 60, "picked_up_show_s": 1, "cancelled_show_s": 1, "failed_show_s": 5,
               "sync_after_s": 30},
    "loop_interval_s": 0.05,
}
DRIVER = {"surname": "张", "plate": "沪AT1234", "car_colour": "teal", "car_model": "大众朗逸", "phone_tail": "5678"}


class Kiosks:
    """Makes kiosk agents (``make``), restarts one on the same data folder (``reboot``), and talks to its page."""

    def __init__(self, factory: AgentFactory) -> None:
        self.factory = factory

    def make(self, ref: DeviceRef | None = None, app: dict[str, Any] | None = None, start: bool = True,
             **over: Any) -> Agent:
        agent: Agent = self.factory.make(ref, start=start, hal=HAL, app=deep_merge(APP, app or {}), **over)
        if start:  # the network coming up is a change of screen of its own: let it happen first
            wait_for(lambda: agent.app.kiosk.online, 20, what="kiosk online")
        return agent

    def reboot(self, agent: Agent, app: dict[str, Any] | None = None) -> Agent:
        """Stop the agent (as a power cycle would: relays safe, nothing flushed beyond the journal) and start a
        new one on the same device, config and data folder."""
        agent.stop(flush_s=0.2)
        self.factory.agents.remove(agent)
        return self.make(agent.ref, app=app)


@pytest.fixture
def kiosks(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[Kiosks]:
    f = AgentFactory(mqtt_broker, tmp_path, site=SITE, kind="taxi_kiosk", n=2)
    yield Kiosks(f)
    f.close()


class PatientRecorder(Recorder):
    """Waits up to 20 s by default: the machine may be busy with other test runs."""

    def wait(self, pred: Callable[[], Any], timeout: float = 20.0, what: str = "messages") -> Any:
        return super().wait(pred, timeout, what)


@pytest.fixture
def server(mqtt_broker: TestBroker, kiosks: Kiosks) -> Iterator[Recorder]:
    """The server's side of the wire (its account): what kiosks publish, and commands to them."""
    with PatientRecorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"linli/v1/{SITE}/#"]) as r:
        yield r


def page(agent: Agent) -> httpx.Client:
    url = agent.app.page_url
    assert url, f"kiosk page not running: {agent.app.page_error}"
    return httpx.Client(base_url=url, timeout=10)


def tap(agent: Agent, key: str = "tap-key-0001") -> dict[str, Any]:
    with page(agent) as c:
        r = c.post("/api/call", json={"key": key})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


def update(server: Recorder, agent: Agent, order_id: str, seq: int, state: str, **extra: Any) -> None:
    """What the dispatcher sends: an ``order_update`` command."""
    args = {"order_id": order_id, "seq": seq, "state": state, "at": datetime.now(UTC).isoformat(), **extra}
    server.command(agent.ref, CMD_ORDER_UPDATE, args, by="taxi-dispatch")


def screen_is(agent: Agent, name: str, timeout: float = 20.0) -> None:
    wait_for(lambda: agent.app.kiosk.screen_name() == name, timeout,
             what=f"screen {name!r} (now {agent.app.kiosk.screen_name()!r})")


def events(server: Recorder, agent: Agent, type: str) -> Callable[[], list[Any]]:
    return lambda: server.events(agent.ref, type)
