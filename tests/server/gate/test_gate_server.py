"""The gate on the server (SQLite and PostgreSQL): ingest of passages, sessions, payments and door events; lists
and their versioned deltas to a gate (a simulated device on the broker); validation, roles and masking; the
payment callback; the pages in Chromium (screenshots of every state)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.apps.gate.scenes import jpeg, render_plate
from linli import contract
from linli.contract import DeviceRef, Kind
from linli.testing import PostgresCluster, TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.ingest.registry import HandlerRegistry
from server.kinds import ServerKinds
from server.testing import PASSWORDS, DeviceSim, LiveServer, make_settings, running

SECRET = "server-test-payment-secret-42"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def gate_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of its own: another test server on the same database (the session's ``live``) would run its own
    list sync to this gate too."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('gatedb') / 'linli.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"gate_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def gate_live(gate_db_url: str, mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[LiveServer]:
    reg = HandlerRegistry()
    ServerKinds.load([Kind.gate]).register_handlers(reg)
    settings = make_settings(tmp_path_factory.mktemp("gatesrv"), gate_db_url, mqtt_broker,
                             kinds={"gate": {"sync_interval_s": 0.1, "sync_retry_s": 1.0,
                                             "max_entries_per_command": 3, "payment_secret": SECRET}})
    with running(create_app(settings, reg)) as ls:
        yield ls


@pytest.fixture(scope="module")
def gate_dev(mqtt_broker: TestBroker, gate_db_url: str) -> Iterator[DeviceSim]:
    ref = DeviceRef("gsite", Kind.gate, f"g{uuid.uuid4().hex[:6]}")
    sim = DeviceSim.provisioned(mqtt_broker, ref)
    yield sim
    sim.close()


def _passage(plate: str, **kw: Any) -> dict[str, Any]:
    d = {"lane": "in", "direction": "entry", "at": datetime.now(UTC).isoformat(), "plate": plate, "colour": "blue",
         "plate_kind": "ordinary", "raw": plate, "source": "lpr_push", "confidence": 0.96, "decision": "open",
         "reason": "temporary", "category": "temporary", "match": "none", "opened": True}
    d.update(kw)
    return d


def test_ingest_sessions_payments_doors(gate_live: LiveServer, gate_dev: DeviceSim) -> None:
    img = jpeg(render_plate("沪B12345", 0.5))
    sha = gate_dev.blob(img)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    gate_dev.event("gate.passage", data=_passage("沪B12345", at=t0.isoformat(), session_id="S1",
                                                  entry_at=t0.isoformat()), blobs=[sha])
    gate_dev.event("gate.payment", data={"session_id": "S1", "plate": "沪B12345", "amount_cents": 1500,
                                         "method": "cash", "lane": "out", "by": "local:maint",
                                         "at": datetime.now(UTC).isoformat()})
    gate_dev.event("gate.passage", data=_passage("沪B12345", lane="out", direction="exit", session_id="S1",
                                                  entry_at=t0.isoformat(), fee_cents=1500, paid_cents=1500,
                                                  reason="paid"))
    gate_dev.event("door.access", data={"door": "east", "at": datetime.now(UTC).isoformat(), "method": "card",
                                        "credential": "****5678", "granted": True, "reason": "card_valid",
                                        "label": "张阿姨"})
    gate_dev.event("door.forced_open", severity="alarm", data={"door": "east", "at": datetime.now(UTC).isoformat(),
                                                               "reason": "opened_without_unlock"})
    stats = gate_live.server.stats
    before = stats.rejects_of("gate", "gate.passage").get("schema", 0)
    bad = gate_dev.event("gate.passage", data={"lane": "in", "plate": "x" * 30})  # does not fit PassageData
    with gate_live.client("admin") as c:
        def sessions() -> Any:
            got = c.get("/api/v1/gate/sessions", params={"site": "gsite"}).json()
            return [s for s in got if s["id"] == "S1" and s["state"] == "closed"]

        s1 = wait_for(sessions, 10, what="closed session S1")[0]
        assert s1["paid_cents"] == 1500 and s1["plate"] == "沪B12345"
        doors = wait_for(lambda: len(c.get("/api/v1/gate/door-events", params={"site": "gsite"}).json()) >= 2
                         and c.get("/api/v1/gate/door-events", params={"site": "gsite"}).json(), 10, what="doors")
        assert {d["type"] for d in doors} == {"door.access", "door.forced_open"}
        got = c.get("/api/v1/gate/passages", params={"plate": "沪B·12345"}).json()
        assert len(got) == 2 and got[-1]["image"] == f"/api/v1/blobs/{sha}"
        wait_for(lambda: stats.rejects_of("gate", "gate.passage").get("schema", 0) > before, 10,
                 what="the bad passage counted")
        ev = c.get("/api/v1/events", params={"type": "gate.passage", "limit": 50}).json()
        assert bad.id not in {e["id"] for e in ev["items"]}  # rejected at ingest (and acknowledged)
        fees = c.get("/api/v1/dashboards/panels/gate.fees", params={"site": "gsite"}).json()
        assert 15.0 in [v for sr in fees["series"] for v in sr["values"]]
        traffic = c.get("/api/v1/dashboards/panels/gate.traffic", params={"site": "gsite"}).json()
        assert sorted(sr["name"] for sr in traffic["series"]) == ["入场", "出场"]
    with gate_live.client("maint") as c:
        got = c.get("/api/v1/gate/passages", params={"site": "gsite"}).json()
        assert all(p["plate"] in ("", "沪B***45") and p["image"] is None for p in got)
        assert c.get("/api/v1/gate/door-events", params={"site": "gsite"}).json()[0]["label"] is None


def test_lists_validation_roles_and_sync_deltas(gate_live: LiveServer, gate_dev: DeviceSim) -> None:
    site = gate_dev.ref.site
    with gate_live.client("manager") as c:
        for n in range(5):
            r = c.post(f"/api/v1/gate/sites/{site}/vehicles", json={"plate": f"沪A1000{n}", "label": f"{n}号楼"})
            assert r.status_code == 201
        bad = c.post(f"/api/v1/gate/sites/{site}/vehicles", json={"plate": "<b>x</b>"})
        assert bad.status_code == 422 and "no plate has" in bad.text
        bad = c.post(f"/api/v1/gate/sites/{site}/visitors", json={
            "plate": "沪C11111", "valid_from": "2026-12-02T08:00:00+08:00", "valid_to": "2026-12-01T08:00:00+08:00"})
        assert bad.status_code == 422 and "after valid_from" in bad.text
        bad = c.post(f"/api/v1/gate/sites/{site}/visitors", json={
            "plate": "沪C11111", "valid_from": "2026-12-01T08:00:00", "valid_to": "2026-12-02T08:00:00"})
        assert bad.status_code == 422 and "time zone" in bad.text
        assert c.post(f"/api/v1/gate/sites/{site}/cards", json={"card": "0012345678"}).json()["key"] == "12345678"
        assert c.delete(f"/api/v1/gate/sites/{site}/lists/resident/沪A10001").status_code == 200
        assert c.delete(f"/api/v1/gate/sites/{site}/lists/resident/沪A10001").status_code == 404
        version = c.get(f"/api/v1/gate/sites/{site}/settings").json()["version"]
        assert version == 7
    with gate_live.client("maint") as c:
        r = c.post(f"/api/v1/gate/sites/{site}/vehicles", json={"plate": "沪A99999"})
        assert r.status_code == 403
        entries = c.get(f"/api/v1/gate/sites/{site}/lists", params={"list": "card"}).json()["entries"]
        assert entries[0]["key"] == "****5678"
    # the gate reports version 0: it gets deltas of at most 3 entries until it has version 7
    have = 0
    got: list[contract.Command] = []
    gate_dev.telemetry(gauges={"lists_version": 0})
    while have < version:
        def next_cmd() -> Any:
            cmds = [cmd for name, cmd in gate_dev.commands() if name == "lists_sync" and cmd not in got]
            return cmds[-1] if cmds else None

        cmd = wait_for(next_cmd, 10, what=f"a lists_sync from version {have}")
        got.append(cmd)
        assert cmd.args["base_version"] == have and len(cmd.args["upserts"]) + len(cmd.args["deletes"]) <= 3
        have = cmd.args["version"]
        gate_dev.result(cmd, "lists_sync", result={"applied": True, "version": have})
    first = got[0].args
    assert first["settings"]["qr_keys"] and first["upserts"][0]["plate"] == "沪A10000"
    keys = {(u["list"], u["key"]) for c in got for u in c.args["upserts"]}
    dels = {tuple(d) for c in got for d in c.args["deletes"]}
    assert ("resident", "沪A10001") in dels and ("card", "12345678") in keys
    with gate_live.client("admin") as c:
        def mine() -> Any:
            d = c.get(f"/api/v1/gate/sites/{site}/sync").json()
            dev = [x for x in d["devices"] if x["device"] == gate_dev.ref.device]
            return d if dev and dev[0]["version"] == version else None

        sync = wait_for(mine, 10, what="the gate's version on the server")
        assert sync["version"] == version


def test_payment_callback_checks(gate_live: LiveServer) -> None:
    def post(doc: dict[str, Any], sig: str | None = None) -> httpx.Response:
        body = json.dumps(doc).encode()
        sig = sig or hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return httpx.post(gate_live.url + "/api/v1/gate/payments/callback", content=body,
                          headers={"X-Linli-Signature": sig}, timeout=10)

    assert post({"payment_id": "p1", "site": "gsite", "amount_cents": 100}, sig="bad").status_code == 401
    r = post({"payment_id": "p-none", "site": "gsite", "plate": "沪Z00000", "amount_cents": 100})
    assert r.status_code == 200 and r.json()["state"] == "unmatched"
    r = post({"payment_id": "p-late", "site": "gsite", "session_id": "S1", "amount_cents": 100})
    assert r.json()["state"] == "late"  # S1 left already
    assert post({"payment_id": "p-late", "site": "gsite", "session_id": "S1", "amount_cents": 100}
                ).json()["duplicate"] is True
    r = post({"payment_id": "p-bad", "site": "gsite", "amount_cents": -5})
    assert r.status_code == 422


@pytest.mark.browser
def test_pages_in_chromium(gate_live: LiveServer, gate_dev: DeviceSim, gate_db_url: str) -> None:
    if not gate_db_url.startswith("sqlite"):
        pytest.skip("pages are looked at once (SQLite)")
    with chromium() as ctx:
        page = ctx.new_page()

        def login(name: str) -> None:
            page.context.clear_cookies()
            page.goto(gate_live.url + "/login?next=/gate")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORDS[name])
            page.click("button[type=submit]")
            page.wait_for_url("**/gate")

        login("manager")
        assert page.locator("h1").first.inner_text().startswith("道闸与门禁")
        assert "沪B·12345" in page.locator("#gate-passages").inner_text()
        assert page.locator("#gate-passages img.plate-img").count() >= 1
        screenshot(page, "gate-overview-manager")
        page.goto(gate_live.url + "/gate/passages?plate=沪B12345")
        assert page.locator("#gate-passages tbody tr").count() == 2
        screenshot(page, "gate-passages-search")
        page.goto(gate_live.url + "/gate/lists?site=gsite")
        form = page.locator("#list-resident form.gate-form")
        form.locator("input[name=plate]").fill("沪D·66666")
        form.locator("input[name=label]").fill("8号楼 1201 王先生")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "已保存" in page.locator(".flash").inner_text()
        assert "沪D·66666" in page.locator("#list-resident").inner_text()
        form = page.locator("#list-resident form.gate-form")
        form.locator("input[name=plate]").fill("沪D6666")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "7 (blue/yellow) or 8" in page.locator(".flash.bad").inner_text()
        screenshot(page, "gate-lists-error")
        page.locator("#qr-form input[name=label]").fill("快递 李师傅")
        page.locator("#qr-form button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator("#qr-issued svg").count() == 1
        screenshot(page, "gate-lists-qr")
        page.goto(gate_live.url + "/gate/doors")
        assert "强行开门报警" in page.locator("#door-events").inner_text()
        screenshot(page, "gate-doors")
        page.goto(gate_live.url + "/gate?lang=en")
        assert page.locator("h1").first.inner_text().startswith("Gates & doors")
        screenshot(page, "gate-overview-en")
        login("maint")
        text = page.locator("#gate-passages").inner_text()
        assert "沪B***45" in text and "沪B·12345" not in text
        assert page.locator("#gate-passages img").count() == 0
        page.goto(gate_live.url + "/gate/lists?site=gsite")
        assert page.locator("#list-resident form.gate-form").count() == 0
        screenshot(page, "gate-lists-maintenance")


def test_migration_matches_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from server.db.migrate import load_all_models, upgrade
    from server.db.models import Base

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    load_all_models()
    with engine.connect() as conn:
        diff = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
                if "gate_" in str(d)]
    assert diff == []
