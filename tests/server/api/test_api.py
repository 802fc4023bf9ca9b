"""REST API: commands round trip, desired config, auth (401/403), site scoping, audit, OpenAPI, health."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from sqlalchemy import select

from linli import contract
from linli.testing import wait_for
from server.db.models import AuditLog, Command, Device
from server.testing import DeviceFactory, Live, jbody, known
from tests.edge.runtime.test_metrics_names import lint_metrics


def _audit(live: Live, action: str, target: str) -> list[AuditLog]:
    with live.server.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.target == target)
                              .order_by(AuditLog.id)))


def test_command_round_trip(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    with live.ls.client("maint") as http:
        r = http.post(f"/api/v1/devices/{dev.ref.key}/commands",
                      json={"name": "pulse_relay", "args": {"ms": 500}, "ttl_s": 30})
        assert r.status_code == 202, r.text
        created = r.json()
        assert created["state"] == "sent" and created["published"] is True and created["by"] == "maint"
        cmd_id = created["id"]
        # the device receives the contract's Command on its cmd topic
        wait_for(lambda: any(c.id == cmd_id for _, c in dev.commands()), what="command at the device")
        name, cmd = next((n, c) for n, c in dev.commands() if c.id == cmd_id)
        assert name == "pulse_relay" and cmd.args == {"ms": 500} and cmd.by == "maint"
        assert not cmd.expired() and 29 <= (cmd.expires - cmd.issued).total_seconds() <= 31
        dev.result(cmd, name, ok=True, result={"pulsed_ms": 500})
        wait_for(lambda: http.get(f"/api/v1/commands/{cmd_id}").json()["state"] == "ok", what="result stored")
        done = jbody(http.get(f"/api/v1/commands/{cmd_id}"))
        assert done["result"] == {"pulsed_ms": 500} and done["finished_at"] is not None
        listed = jbody(http.get(f"/api/v1/devices/{dev.ref.key}/commands"))
        assert listed[0]["id"] == cmd_id
        # a failing command
        r2 = jbody(http.post(f"/api/v1/devices/{dev.ref.key}/commands", json={"name": "selftest"}))
        wait_for(lambda: any(c.id == r2["id"] for _, c in dev.commands()), what="second command")
        cmd2 = next(c for _, c in dev.commands() if c.id == r2["id"])
        dev.result(cmd2, "selftest", ok=False, error="relay coil open")
        wait_for(lambda: http.get(f"/api/v1/commands/{r2['id']}").json()["state"] == "error", what="error result")
        assert jbody(http.get(f"/api/v1/commands/{r2['id']}"))["error"] == "relay coil open"
    rows = [a for a in _audit(live, "command.send", dev.ref.key) if a.detail.get("id") == cmd_id]
    assert len(rows) == 1
    a = rows[0]
    assert (a.who, a.result) == ("maint", "ok") and a.detail["name"] == "pulse_relay" and a.detail["published"]
    assert isinstance(a.at, datetime) and a.at.tzinfo is not None


def test_command_without_result_expires(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    with live.ls.client("admin") as http:
        r = jbody(http.post(f"/api/v1/devices/{dev.ref.key}/commands", json={"name": "slow", "ttl_s": 0.3}))
        wait_for(lambda: http.get(f"/api/v1/commands/{r['id']}").json()["state"] == "expired", 5,
                 what="expired")
    from server.commands import expire_commands

    assert expire_commands(live.server.db) >= 1
    with live.server.db.session() as s:
        row = s.get(Command, r["id"])
        assert row is not None and row.state == "expired"


def test_command_validation_and_unknown_device(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    with live.ls.client("admin") as http:
        assert http.post(f"/api/v1/devices/{dev.ref.key}/commands", json={"name": "Bad Name"}).status_code == 422
        assert http.post(f"/api/v1/devices/{dev.ref.key}/commands",
                         json={"name": "x", "ttl_s": 999999}).status_code == 422
        assert http.post("/api/v1/devices/west/probe/nobody/commands", json={"name": "x"}).status_code == 404
        assert http.get("/api/v1/commands/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_cmd_result_for_unknown_command_is_rejected(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    before = live.server.stats.snapshot()["rejected"].get("unknown_command", 0)
    dev.publish(dev.ref.cmd_result_topic, contract.CommandResult(id=contract.new_id(), name="x", ok=True).encode())
    wait_for(lambda: live.server.stats.snapshot()["rejected"].get("unknown_command", 0) == before + 1,
             what="unknown_command")


def test_desired_config_versions_and_reported(live: Live, device: DeviceFactory) -> None:
    dev = device("p3")
    known(live.server, dev.ref)
    topic = dev.ref.config_desired_topic
    with live.ls.client("admin") as http:
        cur = jbody(http.get(f"/api/v1/devices/{dev.ref.key}/config"))
        v0 = max(cur["desired"]["version"], cur["reported"]["version"] or 0)  # next is above both
        r = http.put(f"/api/v1/devices/{dev.ref.key}/config", json={"overrides": {"hold_max_s": 90}})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["desired"]["version"] == v0 + 1 and body["desired"]["by"] == "admin" and body["published"]
        wait_for(lambda: dev.messages(topic), what="desired config at the device")
        desired = contract.decode(contract.Channel.config_desired, dev.messages(topic)[-1][1])
        assert isinstance(desired, contract.ConfigDesired)
        assert desired.version == v0 + 1 and desired.overrides == {"hold_max_s": 90}
        r2 = jbody(http.put(f"/api/v1/devices/{dev.ref.key}/config", json={"overrides": {"hold_max_s": 60}}))
        assert r2["desired"]["version"] == v0 + 2 and r2["in_sync"] is False
        dev.report_config(v0 + 2)
        wait_for(lambda: http.get(f"/api/v1/devices/{dev.ref.key}/config").json()["in_sync"], what="in sync")
        got = jbody(http.get(f"/api/v1/devices/{dev.ref.key}/config"))
        assert got["reported"]["applied_version"] == v0 + 2 and got["reported"]["ok"] is True
        assert got["desired"]["overrides"] == {"hold_max_s": 60}
    # retained: a device that connects later still gets the latest desired config
    late = device("p3")
    wait_for(lambda: late.messages(topic), what="retained desired config")
    assert json.loads(late.messages(topic)[-1][1])["version"] == v0 + 2 and late.messages(topic)[-1][2] is True
    assert [a.detail["version"] for a in _audit(live, "config.set", dev.ref.key)][-2:] == [v0 + 1, v0 + 2]


def test_auth_required(live: Live) -> None:
    with live.ls.client(None) as http:
        for path in ("/api/v1/devices", "/api/v1/events", "/api/v1/audit", "/api/v1/ingest/stats", "/"):
            r = http.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith('Basic realm="linli"')
        assert http.get("/api/v1/devices", auth=("admin", "wrong")).status_code == 401
        assert http.get("/api/v1/devices", auth=("nobody", "admin-secret-1")).status_code == 401
        assert http.get("/api/v1/devices", headers={"Authorization": "Basic !!!"}).status_code == 401
        # open: liveness, metrics, API description
        assert http.get("/healthz").json()["ok"] is True
        metrics = http.get("/metrics").text
        assert "linli_ingest_received_total" in metrics
        assert lint_metrics(metrics) == []
        spec = http.get("/openapi.json").json()
        assert "/api/v1/devices/{site}/{kind}/{device}/commands" in spec["paths"]
        assert http.get("/docs").status_code == 200


@pytest.mark.browser
def test_api_docs_work_offline_and_authorize_with_basic(live: Live) -> None:
    """Swagger UI comes from the server itself (Chromium here reaches nothing else) and knows HTTP Basic."""
    from linli.testing import chromium, screenshot

    with live.ls.client(None) as http:
        html = http.get("/docs").text
        assert "cdn." not in html and "/static-docs/swagger-ui-bundle.js" in html
        assert http.get("/static-docs/swagger-ui-bundle.js").status_code == 200
        spec = http.get("/openapi.json").json()
        basic = spec["components"]["securitySchemes"]["basic"]
        assert (basic["type"], basic["scheme"]) == ("http", "basic")
        assert spec["security"] == [{"basic": []}]
    with chromium() as ctx:
        page = ctx.new_page()
        page.goto(f"{live.ls.url}/docs")
        page.locator(".opblock").first.wait_for(timeout=20_000)
        assert page.locator("button.authorize").count() == 1
        screenshot(page, "page-docs-desk")  # Swagger UI speaks English only (its own vendored layout)
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot(page, "page-docs-phone")


def test_roles(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    with live.ls.client("manager") as http:
        assert http.get("/api/v1/devices").status_code == 200
        assert http.get("/api/v1/audit").status_code == 200
        r = http.post(f"/api/v1/devices/{dev.ref.key}/commands", json={"name": "pulse_relay"})
        assert r.status_code == 403
        assert http.put(f"/api/v1/devices/{dev.ref.key}/config", json={"overrides": {}}).status_code == 403
    denied = _audit(live, "command.send", dev.ref.key)
    assert denied[-1].who == "manager" and denied[-1].result == "denied"
    with live.ls.client("maint") as http:
        assert http.get("/api/v1/audit").status_code == 403  # maintenance does not read the audit log
        me = jbody(http.get("/api/v1/me"))
        assert me == {"name": "maint", "role": "maintenance", "sites": None,
                      "permissions": ["command", "config", "read"]}
    with live.ls.client("admin") as http:
        log = jbody(http.get("/api/v1/audit", params={"who": "manager", "action": "command.send"}))
        assert log and log[0]["result"] == "denied" and log[0]["target"] == dev.ref.key


def test_site_scoped_user_sees_only_their_site(live: Live, device: DeviceFactory) -> None:
    west, east = device("p1"), device("e1")
    known(live.server, west.ref), known(live.server, east.ref)
    ew, ee = west.event("probe.scope"), east.event("probe.scope")
    with live.ls.client("admin") as admin:
        wait_for(lambda: len(admin.get("/api/v1/events", params={"type": "probe.scope"}).json()["items"]) >= 2,
                 what="events")
    with live.ls.client("east") as http:
        sites = {d["site"] for d in jbody(http.get("/api/v1/devices"))}
        assert sites == {"east"}
        ids = {e["id"] for e in jbody(http.get("/api/v1/events", params={"type": "probe.scope"}))["items"]}
        assert ee.id in ids and ew.id not in ids
        assert http.get(f"/api/v1/devices/{west.ref.key}").status_code == 404
        assert http.get(f"/api/v1/events/{ew.id}").status_code == 404
        assert http.get(f"/api/v1/devices/{east.ref.key}").status_code == 200


def test_desired_config_is_published_again_when_the_device_comes_back_without_it(live: Live,
                                                                                device: DeviceFactory) -> None:
    """A broker that keeps retained messages per node (RabbitMQ) may not have the desired config where the device
    reconnects: its birth status makes the server publish the desired version again until the device reports it."""
    dev = device("p3")
    known(live.server, dev.ref)
    topic = dev.ref.config_desired_topic
    with live.ls.client("admin") as http:
        version = jbody(http.put(f"/api/v1/devices/{dev.ref.key}/config",
                                 json={"overrides": {"hold_max_s": 75}}))["desired"]["version"]
    wait_for(lambda: dev.messages(topic), what="desired config at the device")
    # as if the device reconnected on a node without the retained copy: clear it, and forget what arrived
    assert live.server.link is not None and live.server.link.publish(topic, b"", retain=True, wait_s=5)
    wait_for(lambda: any(p == b"" for _, p, _ in dev.messages(topic)), what="retained copy cleared")
    dev.received.clear()
    dev.status("online", software="sim 1.0")
    wait_for(lambda: [p for _, p, _ in dev.messages(topic) if p], what="desired config published again")
    again = contract.decode(contract.Channel.config_desired, [p for _, p, _ in dev.messages(topic) if p][-1])
    assert isinstance(again, contract.ConfigDesired) and again.version == version
    assert again.overrides == {"hold_max_s": 75}
    dev.report_config(version)
    with live.ls.client("admin") as http:
        wait_for(lambda: http.get(f"/api/v1/devices/{dev.ref.key}/config").json()["in_sync"], what="in sync")
    dev.received.clear()
    dev.status("online", software="sim 2.0")  # reported now: nothing more is published

    def software() -> str | None:
        with live.server.db.session() as s:
            return s.get(Device, known(live.server, dev.ref).id).software  # type: ignore[union-attr]

    wait_for(lambda: software() == "sim 2.0", what="the second birth status stored")
    time.sleep(0.3)  # a publish made while storing it would be here by now
    assert not [p for _, p, _ in dev.messages(topic) if p]
