"""The gate end to end: server lists → sync (versioned deltas) → the gate's cache → an LPR camera's HTTP push →
decision → barrier relay pulse → passage → broker → server database → API (plates masked for maintenance);
broker and server down → residents still enter at once, passages arrive later exactly once with their own time;
temporary car → fee at the exit → HMAC-signed payment callback → the exit opens; door QR codes issued by the
server verify on the gate."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory
from linli.contract import Kind
from linli.gate import qr
from linli.testing import TestBroker, wait_for
from server.app import create_app as _create_app
from server.gate.models import GatePassage, GateSession
from server.ingest.registry import HandlerRegistry
from server.kinds import ServerKinds
from server.testing import LiveServer, make_settings, running
from tests.edge.apps.gate.conftest import HAL, gate_app

SECRET = "pay-secret-for-tests-0123456789"


def create_app(settings: Any) -> Any:
    """The server with the gate's handlers and services only (other kinds are tested on their own)."""
    reg = HandlerRegistry()
    ServerKinds.load([Kind.gate]).register_handlers(reg)
    return _create_app(settings, reg)


@pytest.fixture
def env(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             kinds={"gate": {"sync_interval_s": 0.2, "sync_retry_s": 2, "payment_secret": SECRET}})
    factory = AgentFactory(mqtt_broker, tmp_path / "agents", site="t-gate", kind="gate", n=1)
    yield {"settings": settings, "factory": factory, "broker": mqtt_broker}
    factory.close()


def _synced(agent: Any, ls: LiveServer, site: str) -> None:
    def same() -> bool:
        with ls.client("admin") as c:
            v = c.get(f"/api/v1/gate/sites/{site}/sync").json()["version"]
        return agent.app.store.version == v and v > 0

    wait_for(same, 15, what="the gate's lists at the site's version")


def _passages(srv: Any, plate: str) -> list[GatePassage]:
    with srv.db.session() as s:
        rows = list(s.scalars(select(GatePassage).where(GatePassage.plate == plate)))
        s.expunge_all()
        return rows


def test_gate_end_to_end(env: dict[str, Any]) -> None:
    factory: AgentFactory = env["factory"]
    broker: TestBroker = env["broker"]
    now = datetime.now(UTC)
    with running(create_app(env["settings"])) as ls:
        agent = factory.make(hal=HAL, app=gate_app(), start=False)
        site = agent.ref.site
        with ls.client("manager") as c:
            for plate in ("沪A12345", "沪A54321"):
                r = c.post(f"/api/v1/gate/sites/{site}/vehicles", json={
                    "plate": plate, "valid_from": (now - timedelta(days=1)).isoformat(),
                    "valid_to": (now + timedelta(days=30)).isoformat(), "label": "3号楼201"})
                assert r.status_code == 201, r.text
            r = c.post(f"/api/v1/gate/sites/{site}/vehicles", json={"plate": "沪A1234", "label": "x"})
            assert r.status_code == 422 and "7 (blue/yellow) or 8" in r.text
            r = c.put(f"/api/v1/gate/sites/{site}/settings", json={
                "tariff": {"free_minutes": 0, "hourly_cents": 600, "daily_cap_cents": 5000},
                "capacity_temporary": 10})
            assert r.status_code == 200
        with ls.client("maint") as c:
            r = c.post(f"/api/v1/gate/sites/{site}/blacklist", json={"plate": "沪E44445", "reason": "x"})
            assert r.status_code == 403
            masked = c.get(f"/api/v1/gate/sites/{site}/lists").json()["entries"]
            assert {e["plate"] for e in masked} == {"沪A***45", "沪A***21"}
        agent.start()
        _synced(agent, ls, site)
        assert agent.app.store.settings.tariff.hourly_cents == 600
        board = PinBoard()
        car_in = CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
        car_out = CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "out"))
        cam_in, cam_out = LprCameraSim(agent.app.lpr.url, "cam-in"), LprCameraSim(agent.app.lpr.url, "cam-out")

        before = car_in.pulses()
        cam_in.push("沪A·12345", plate_id=1)
        assert car_in.wait_open(before, 2.0)
        car_in.drive_through(0.1)
        wait_for(lambda: _passages(ls.server, "沪A12345"), 10, what="the passage in the server's database")
        with ls.client("manager") as c:
            got = c.get("/api/v1/gate/passages", params={"plate": "沪A12345"}).json()
            assert got[0]["plate"] == "沪A12345" and got[0]["category"] == "resident"
        with ls.client("maint") as c:
            got = c.get("/api/v1/gate/passages", params={"site": site}).json()
            assert got[0]["plate"] == "沪A***45" and got[0]["image"] is None

        # a resident removed on the server is a temporary car at the gate after the next sync
        with ls.client("admin") as c:
            assert c.delete(f"/api/v1/gate/sites/{site}/lists/resident/沪A54321").status_code == 200
        _synced(agent, ls, site)
        assert not [m for m in agent.app.store.lookup("沪A54321") if m.list == "resident"]

        # the door QR key travelled with the lists: a code the server issues opens the gate's door offline
        with ls.client("manager") as c:
            tok = c.post(f"/api/v1/gate/sites/{site}/qr", json={"door": "east-door", "minutes": 5}).json()
        assert tok["svg"] and "<svg" in tok["svg"]
        g = qr.verify(tok["token"], agent.app.store.settings.qr_keys, site, "east-door", datetime.now(UTC))
        assert g.door == "east-door"

        # a temporary car: in, then out with a fee due; the payment callback opens the exit
        cam_in.push("沪B77777", plate_id=2)
        car_in.drive_through(0.1)
        before_out = car_out.pulses()
        cam_out.push("沪B77777", plate_id=3)
        wait_for(lambda: agent.app.lanes["out"].pending is not None, 5, what="fee due at the exit")
        assert car_out.pulses() == before_out
        sid = agent.app.lanes["out"].pending.verdict.session.id
        wait_for(lambda: ls.server.db and _session(ls, sid), 10, what="the session on the server")
        body = json.dumps({"payment_id": "wx-0001", "site": site, "plate": "沪B77777", "amount_cents": 600}).encode()
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        import httpx

        with httpx.Client(base_url=ls.url, timeout=10) as anon:
            r = anon.post("/api/v1/gate/payments/callback", content=body, headers={"X-Linli-Signature": "0" * 64})
            assert r.status_code == 401
            r = anon.post("/api/v1/gate/payments/callback", content=body, headers={"X-Linli-Signature": sig})
            assert r.status_code == 200 and r.json()["state"] == "applied", r.text
            again = anon.post("/api/v1/gate/payments/callback", content=body, headers={"X-Linli-Signature": sig})
            assert again.json()["duplicate"] is True
        assert car_out.wait_open(before_out, 5.0), "the exit did not open after the online payment"
        car_out.drive_through(0.1)
        wait_for(lambda: (_session(ls, sid) or {}).get("state") == "closed", 10, what="session closed on the server")
        assert _session(ls, sid)["paid_cents"] == 600

        # the resident leaves (one stay ends: a later entry is a new stay, not a re-read of this one)
        before = car_out.pulses()
        cam_out.push("沪A12345", plate_id=4)
        assert car_out.wait_open(before, 3.0)
        car_out.drive_through(0.1)
        wait_for(lambda: len(_passages(ls.server, "沪A12345")) >= 2, 10, what="the resident's exit on the server")

        # broker and server away: residents still enter at once; passages arrive later exactly once
        ls.stop()
        broker.broker.stop()
        try:
            wait_for(lambda: not agent.link.connected, 10, what="agent offline")
            t0 = time.monotonic()
            before = car_in.pulses()
            cam_in.push("沪A12345", plate_id=10, at=datetime.now(UTC))
            assert car_in.wait_open(before, 3.0)
            assert time.monotonic() - t0 < 3.0  # decided locally: no network timeout in the way
            read_at = datetime.now(UTC)
            time.sleep(0.5)
        finally:  # never leave the session's shared broker stopped, whatever happened above
            broker.broker.start()
    with running(create_app(env["settings"])) as ls2:
        wait_for(lambda: len(_passages(ls2.server, "沪A12345")) >= 3, 20, what="the offline passage delivered")
        time.sleep(1.0)
        rows = _passages(ls2.server, "沪A12345")
        assert len(rows) == 3
        assert abs((max(r.at for r in rows) - read_at).total_seconds()) < 2
        with ls2.server.db.session() as s:
            assert s.scalar(select(func.count()).select_from(GatePassage)) == len(
                {r.event_id for r in s.scalars(select(GatePassage))})
    cam_in.close()
    cam_out.close()


def _session(ls: LiveServer, sid: str) -> dict[str, Any] | None:
    with ls.server.db.session() as s:
        row = s.get(GateSession, sid)
        return None if row is None else {"state": row.state, "paid_cents": row.paid_cents}
