"""Site scoping, proved from the app's route table: every route is tried as an admin and as a manager limited to
site B, with ids, forms and bodies that belong to site A (objects of every kind live there). Each must refuse and
change nothing; lists and pages must not show site A at all. A route this test cannot classify fails it, so a
new route is covered without anyone remembering; the few routes that need no user are in ``PUBLIC`` (with the
reason) in server/security/scope.py, and the ones below that act only on the caller's own account in ``SELF``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from PIL import Image
from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text, insert, select
from sqlalchemy import types as satypes

from linli.contract import Kind, new_id, utcnow
from linli.testing import TestBroker
from server.app import create_app
from server.db.models import Base, Command, Device, Event
from server.security import EVERY_SITE_ONLY, public_reason
from server.testing import FAST_HASHER, LiveServer, make_settings, running, user_entries

#: Routes that act only on the signed-in user's own account (no site, no other user's data).
SELF = {
    ("POST", "/logout"): "ends the caller's own session",
    ("POST", "/account/password"): "changes the caller's own password (the current one is checked)",
    ("POST", "/api/v1/me/password"): "changes the caller's own password (the current one is checked)",
}
#: Mounts (not routes): files anyone may fetch.
MOUNTS = {"/static": "CSS, JS and vendored Chart.js of the pages: no data",
          "/static-docs": "Swagger UI of the API documentation page: no data"}
#: Data routes whose body this test cannot read to the end (they stream until the client leaves).
STREAMS = {"/api/v1/stream": "server-sent events: read from the first event to the first summary"}

#: Path parameters that name something every site shares (not an object of a site).
NEUTRAL = {"panel_id": "a dashboard panel: the same for every site; its data is filtered by the user's sites",
           "/dashboards/{kind}": "a device kind's dashboard: the same for every site; filtered by the user's sites"}

SKIP_TABLES = {"audit_log", "web_sessions", "devices", "users", "alembic_version"}
PLATE = "沪A12345"


@dataclass
class World:
    live: LiveServer
    a: str
    b: str
    ids: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.live.url, auth=(name, f"{name}-secret-1"), timeout=20)


def _value(col: Any, ctx: dict[str, Any]) -> Any:
    """A value for a required column of a row on site A (generic, so a new kind's table is filled too)."""
    name = col.name
    overrides = {"site": ctx["site"], "plate": PLATE, "direction": "entry", "decision": "open",
                 "category": "resident", "colour": "blue", "source": "lpr", "match": "exact", "reason": "resident",
                 "method": "card", "type": "door.access", "state": "open", "lane": "in", "door": "d1",
                 "severity": "info", "content_type": "image/jpeg", "mode": "prepaid", "fault": "camera",
                 "origin": "staff", "cls": "ebike", "list": "resident", "key": PLATE, "request_key": new_id(),
                 "step": "requested"}
    for fk in col.foreign_keys:
        target = fk.target_fullname
        if target == "devices.id":
            return ctx["device_id"]
        if target in ctx["fk"]:
            return ctx["fk"][target]
    if name in overrides and not col.primary_key:
        return overrides[name]
    t = col.type.impl if isinstance(col.type, satypes.TypeDecorator) else col.type
    if isinstance(t, String | Text):
        length = getattr(t, "length", None) or 64
        if name == "sha256":
            return hashlib.sha256(new_id().encode()).hexdigest()
        text = new_id() if col.primary_key or name.endswith("id") else f"x{ctx['site']}"
        return text[:length]
    if isinstance(t, Boolean):
        return False
    if isinstance(t, Integer):
        return 1
    if isinstance(t, Float):
        return 1.0
    if isinstance(t, DateTime):
        return utcnow()
    if isinstance(t, satypes.JSON):
        return {"stages": [1]}.get(name, {"site": ctx["site"]})
    raise AssertionError(f"cannot fill {col.table.name}.{name} ({t!r}): teach the test this column type")


def _kind_of(table: str) -> str:
    for k in Kind:
        if table.startswith(k.value) or table.startswith(k.value.split("_")[0] + "_"):
            return k.value
    return Kind.probe.value


def _fill(w: World) -> None:
    """One row on site A in every table that belongs to a site or a device (except those made through the API)."""
    srv = w.live.server
    from server.db.migrate import load_all_models

    load_all_models()
    with srv.db.session() as s:
        fk: dict[str, Any] = {}
        pending = [t for t in Base.metadata.sorted_tables if t.name not in SKIP_TABLES
                   and ({"site", "device_id"} & set(t.columns.keys()) or any(
                       fkey.target_fullname in ("work_orders.id", "taxi_orders.id")
                       for c in t.columns for fkey in c.foreign_keys))]
        def insert_row(table: Any) -> None:
            for col in table.columns:  # a parent that belongs to no site (a release, say) is made first
                for fkey in col.foreign_keys:
                    parent = fkey.column.table
                    if fkey.target_fullname not in fk and parent.name not in SKIP_TABLES:
                        insert_row(parent)
            kind = _kind_of(table.name)
            sited = bool({"site", "device_id"} & set(table.columns.keys()))  # else fleet-wide (a release, say)
            ctx = {"site": w.a if sited else "fleet", "device_id": w.devices[kind], "fk": fk}
            serial = [c for c in table.columns if c.primary_key and isinstance(c.type, Integer) and not c.foreign_keys]
            row = {c.name: _value(c, ctx) for c in table.columns
                   if c not in serial and (not c.nullable or c.name in ("site", "plate", "ended_at", "entry_at"))}
            res = s.execute(insert(table).values(**row))
            for c in table.columns:
                fk[f"{table.name}.{c.name}"] = row[c.name] if c.name in row else res.inserted_primary_key[0]

        for table in pending:  # sorted_tables: parents first
            if "site" in table.columns and s.execute(select(table.c.site).where(table.c.site == w.a)).first():
                continue  # made through the API (gate lists and settings)
            if "device_id" in table.columns and s.execute(select(table.c.device_id).where(
                    table.c.device_id.in_(list(w.devices.values())))).first():
                continue  # made through the API (commands)
            if table.name == "work_orders" or ("order_id" in table.columns and table.name.startswith("work")):
                continue  # made through the API below
            insert_row(table)
        w.ids["fk"] = fk


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[World]:
    a, b = f"sa{uuid.uuid4().hex[:6]}", f"sb{uuid.uuid4().hex[:6]}"
    extra = [{"name": "adm-a", "role": "admin", "sites": [a]}, {"name": "adm-b", "role": "admin", "sites": [b]},
             {"name": "mgr-b", "role": "manager", "sites": [b]}, {"name": "mnt-b", "role": "maintenance",
                                                                  "sites": [b]}]
    users = list(user_entries()) + [{**u, "password_hash": FAST_HASHER.hash(f"{u['name']}-secret-1")} for u in extra]
    data = tmp_path_factory.mktemp("scope")
    url = f"sqlite:///{data / 'linli.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").create_database(f"scope_{uuid.uuid4().hex[:8]}")
    settings = make_settings(data, url, mqtt_broker, auth={"users": users},
                             commands={"publish_wait_s": 0.1})
    app = create_app(settings)
    with running(app) as live:
        w = World(live, a, b)
        srv = live.server
        with srv.db.session() as s:
            for site in (a, b):
                for k in Kind:
                    dev = Device(site=site, kind=k.value, device=f"{k.value.replace('_', '-')}-1", state="online",
                                 state_since=utcnow(), first_seen=utcnow(), last_seen=utcnow())
                    s.add(dev)
                    s.flush()
                    if site == a:
                        w.devices[k.value] = dev.id
        root = httpx.Client(base_url=live.url, auth=("admin", "admin-secret-1"), timeout=20)
        probe = f"/api/v1/devices/{a}/probe/probe-1"
        assert root.post(probe + "/commands", json={"name": "ping"}).status_code == 202
        assert root.put(f"/api/v1/gate/sites/{a}/settings", json={
            "tariff": {"free_minutes": 15, "hourly_cents": 500, "daily_cap_cents": 3000},
            "capacity_temporary": 10}).status_code == 200
        assert root.post(f"/api/v1/gate/sites/{a}/vehicles", json={"plate": PLATE, "label": "3-201"}
                         ).status_code == 201
        wo = root.post("/api/v1/workorders", json={"site": a, "kind": "probe", "device": "probe-1",
                                                   "fault": "camera"})
        assert wo.status_code == 201, wo.text
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "JPEG")
        ph = root.post(f"/api/v1/workorders/{wo.json()['id']}/photos", files={"file": ("p.jpg", buf.getvalue(),
                                                                                        "image/jpeg")})
        assert ph.status_code == 201, ph.text
        _fill(w)
        with srv.db.session() as s:
            dev_ids = [w.devices[k.value] for k in Kind]
            w.ids.update({
                "command_id": s.scalar(select(Command.id).where(Command.device_id.in_(dev_ids))),
                "event_id": s.scalar(select(Event.id).where(Event.device_id.in_(dev_ids))),
                "sha256": w.ids["fk"]["blobs.sha256"],
                "workorder": wo.json()["id"],
                "photo_id": ph.json()["photos"][-1]["id"] if ph.json().get("photos") else
                w.ids["fk"].get("work_order_photos.id"),
                "taxi": w.ids["fk"]["taxi_orders.id"],
            })
        from server.workorders.models import WorkOrderPhoto

        with srv.db.session() as s:
            w.ids["photo_id"] = s.scalar(select(WorkOrderPhoto.id).where(WorkOrderPhoto.order_id == w.ids["workorder"]))
        srv.stats.on_reject(f"linli/v1/{a}/probe/probe-1/event", "parse", "not JSON", 3)  # a site-A reject
        srv.snapshots.root.mkdir(parents=True, exist_ok=True)
        srv.snapshots.write(w.ids["sha256"], buf.getvalue())
        w.ids["panel_id"] = root.get("/api/v1/dashboards").json()[0]["id"]
        root.close()
        yield w


def _params(path: str) -> list[str]:
    return re.findall(r"{(\w+)(?::[^}]*)?}", path)


def _path_value(w: World, path: str, name: str) -> str:
    ids = w.ids
    kinds = [k.value for k in Kind if f"/{k.value}/" in path or path.startswith(f"/{k.value}")]
    device = f"{kinds[0].replace('_', '-')}-1" if kinds else "probe-1"
    table: dict[str, Any] = {
        "site": w.a, "device": device, "port": 1, "lst": "resident", "key": PLATE, "step": "note",
        "kind": "gate" if path.startswith("/dashboards/") else "probe", "name": "adm-a",
        "order_id": ids["taxi"] if "/taxi" in path else ids["workorder"], "photo_id": ids["photo_id"],
        "command_id": ids["command_id"], "event_id": ids["event_id"], "sha256": ids["sha256"],
        "panel_id": ids["panel_id"], "rollout_id": ids["fk"]["rollouts.id"], "action": "pause",
        "alert_id": ids["fk"]["alerts.id"], "block_id": ids["fk"]["lift_blocks.block_id"],
        "model_id": ids["fk"]["lift_classifiers.id"],
        "filename": f"linli-{ids['fk']['releases.version']}.tar.gz", "prepay_id": "no-such-prepay",
        "token": "no-such-token", "provider": "sim",
    }
    if name not in table:
        pytest.fail(f"{path}: the test does not know an id of site A for {{{name}}}: add it (and a scope rule in "
                    "server/security/scope.py if it names an object of a site)")
    return str(table[name])


def _bodies(w: World) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Bodies for state-changing routes: valid ones where the route names site A in its path (so that only the
    scope check can stop them), and the site-A reference itself for routes that name it in the body."""
    a, b = w.a, w.b
    tariff = {"free_minutes": 1, "hourly_cents": 900, "daily_cap_cents": 9000}
    return {
        ("POST", "/gate/lists/{site}/add"): ("form", {"list": "resident", "plate": "沪B54321", "label": "x"}),
        ("POST", "/gate/lists/{site}/remove"): ("form", {"list": "resident", "key": PLATE}),
        ("POST", "/gate/lists/{site}/settings"): ("form", {"free_minutes": "1", "hourly": "9", "daily_cap": "90",
                                                           "capacity": "3"}),
        ("POST", "/gate/lists/{site}/qr"): ("form", {"door": "*", "minutes": "5"}),
        ("POST", "/api/v1/gate/sites/{site}/vehicles"): ("json", {"plate": "沪B54321"}),
        ("POST", "/api/v1/gate/sites/{site}/blacklist"): ("json", {"plate": "沪B54321", "reason": "x"}),
        ("POST", "/api/v1/gate/sites/{site}/cards"): ("json", {"card": "12345"}),
        ("PUT", "/api/v1/gate/sites/{site}/settings"): ("json", {"tariff": tariff, "capacity_temporary": 3}),
        ("POST", "/api/v1/gate/sites/{site}/qr"): ("json", {"door": "*"}),
        ("PUT", "/api/v1/lift_guard/devices/{site}/{device}/blocks/{block_id}/label"): ("json", {"label": "bicycle"}),
        ("POST", "/lift_guard/{site}/{device}/label"): ("form", {"block_id": w.ids["fk"]["lift_blocks.block_id"],
                                                                 "label": "bicycle"}),
        ("POST", "/api/v1/devices/{site}/{kind}/{device}/commands"): ("json", {"name": "ping"}),
        ("PUT", "/api/v1/devices/{site}/{kind}/{device}/config"): ("json", {"overrides": {"x": 1}}),
        ("POST", "/devices/{site}/{kind}/{device}/command"): ("form", {"name": "ping", "args": "{}"}),
        ("POST", "/devices/{site}/{kind}/{device}/config"): ("form", {"cfg.pulse_max_s": "1"}),
        ("POST", "/workorders/{order_id}/step"): ("form", {"step": "note", "note": "x"}),
        ("POST", "/api/v1/workorders/{order_id}/steps/{step}"): ("json", {"note": "x"}),
        ("PATCH", "/api/v1/users/{name}"): ("json", {"active": False}),
        ("POST", "/api/v1/users/{name}/password"): ("json", {"password": "new-pass-12345"}),
        ("POST", "/admin/users/{name}/password"): ("form", {"password": "new-pass-12345"}),
        ("POST", "/admin/users/{name}"): ("form", {"role": "admin", "sites": b}),
        ("POST", "/api/v1/rollouts"): ("json", {"version": w.ids["fk"]["releases.version"], "site": a}),
        ("POST", "/api/v1/workorders"): ("json", {"site": a, "kind": "probe", "device": "probe-1", "fault": "x"}),
        ("POST", "/workorders/new"): ("form", {"site": a, "kind": "probe", "device": "probe-1", "fault": "x",
                                               "severity": "warning"}),
        ("POST", "/api/v1/users"): ("json", {"name": f"u{uuid.uuid4().hex[:6]}", "password": "pw-123456789",
                                             "role": "manager", "sites": [a]}),
        ("POST", "/admin/users"): ("form", {"name": f"u{uuid.uuid4().hex[:6]}", "password": "pw-123456789",
                                            "role": "manager", "sites": a}),
    }


def _digest(w: World) -> str:
    """Everything stored except the audit log and sessions (refusals are audited; that is not a change) and the
    background jobs' leases (renewed on every tick on PostgreSQL, whatever the request)."""
    srv = w.live.server
    h = hashlib.sha256()
    with srv.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in ("audit_log", "web_sessions", "job_leases"):
                continue
            rows = s.execute(select(table)).all()
            h.update(table.name.encode())
            h.update(repr(sorted(repr(tuple(r)) for r in rows)).encode())
    return h.hexdigest()


def _csrf(w: World, user: str) -> str:
    key = w.live.server.csrf_key
    return hmac.new(key, f"basic\x00{user}".encode(), hashlib.sha256).hexdigest()[:32]


def _routes(w: World) -> list[tuple[str, str]]:
    out = []
    for r in iter_route_contexts(w.live.app.routes):
        path = getattr(r, "path", "")
        methods = getattr(r, "methods", None)
        if not methods:
            assert path in MOUNTS, f"{path}: a mount or route without methods the test does not know"
            continue
        out += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return out


def _stream_head(c: httpx.Client, url: str) -> str:
    """A server-sent event stream from its first event (Last-Event-ID 0) until its first summary."""
    text = ""
    with c.stream("GET", url, headers={"last-event-id": "0"}, timeout=httpx.Timeout(10, read=10)) as r:
        for chunk in r.iter_text():
            text += chunk
            if "event: summary" in text or len(text) > 200_000:
                break
    return text


def _send(c: httpx.Client, w: World, user: str, method: str, url: str, body: tuple[str, dict[str, Any]] | None,
          page: bool) -> httpx.Response:
    if method == "GET" and url.split("?")[0] in STREAMS:  # headers only: the body never ends
        with c.stream("GET", url) as r:
            return httpx.Response(r.status_code, headers=r.headers)
    if method == "GET":
        return c.get(url, headers={"accept": "application/json"})
    kind, doc = body if body is not None else ("form" if page else "json", {})
    if kind == "form":
        return c.request(method, url, data={**doc, "csrf": _csrf(w, user)})
    return c.request(method, url, content=json.dumps(doc), headers={"content-type": "application/json"})


def test_every_route_refuses_another_sites_ids(world: World) -> None:
    w = world
    bodies = _bodies(w)
    routes = _routes(w)
    assert len(routes) > 80  # the whole app, not a part of it
    checked: dict[str, list[str]] = {"refused": [], "public": [], "self": [], "lists": []}
    failures: list[str] = []

    def check(ok: bool, msg: str) -> None:
        if not ok:
            failures.append(msg)

    root = httpx.Client(base_url=w.live.url, auth=("admin", "admin-secret-1"), timeout=20)
    for user in ("adm-b", "mgr-b", "mnt-b"):
        with w.client(user) as c:
            for method, path in routes:
                if public_reason(method, path):  # PUBLIC and the modules' PUBLIC_BY_DESIGN, each with why
                    checked["public"].append(path)
                    continue
                if (method, path) in EVERY_SITE_ONLY:  # the whole fleet's: refused to users of some sites
                    before = _digest(w)
                    r = c.request(method, path)
                    check(r.status_code in (403, 404), f"{user} {method} {path}: {r.status_code} {r.text[:200]}")
                    check(_digest(w) == before, f"{user} {method} {path} changed stored data")
                    checked["refused"].append(f"{method} {path}")
                    continue
                if (method, path) in SELF:
                    checked["self"].append(path)
                    continue
                names = _params(path)
                url = path
                for n in names:
                    url = re.sub(r"{" + n + r"(?::[^}]*)?}", _path_value(w, path, n), url)
                page = not path.startswith("/api/")
                names = [n for n in names if n not in NEUTRAL and f"{path}" not in NEUTRAL]
                if method != "GET" and not names and (method, path) not in bodies:
                    pytest.fail(f"{method} {path}: a state-changing route the test cannot classify (no id in "
                                "its path): add a body naming site A to _bodies, or to SELF/PUBLIC with a reason")
                if not names:  # a list, a page or a body-addressed action: naming site A is refused
                    before = _digest(w) if method != "GET" else ""
                    target = url + ("?" if "?" not in url else "&") + f"site={w.a}"
                    r = _send(c, w, user, method, target, bodies.get((method, path)), page)
                    check(r.status_code in (403, 404), f"{user} {method} {target}: {r.status_code} {r.text[:200]}")
                    if method != "GET":
                        r = _send(c, w, user, method, url, bodies.get((method, path)), page)
                        check(r.status_code in (403, 404), f"{user} {method} {url}: {r.status_code} {r.text[:200]}")
                        check(_digest(w) == before, f"{user} {method} {path} changed stored data")
                    elif path in STREAMS:  # everything since the first event, up to the first summary
                        text = _stream_head(c, url)
                        check(w.a not in text, f"{user} GET {url} streams site A: {text[:300]}")
                        checked["lists"].append(path)
                    else:
                        r = c.get(url, headers={"accept": "application/json"})
                        check(w.a not in r.text, f"{user} GET {url} shows site A: {r.text[:300]}")
                        checked["lists"].append(path)
                    checked["refused"].append(f"{method} {path}")
                    continue
                before = _digest(w) if method != "GET" else ""
                r = _send(c, w, user, method, url, bodies.get((method, path)), page)
                want = (404,) if user == "adm-b" else (403, 404)
                check(r.status_code in want, f"{user} {method} {url}: {r.status_code} {r.text[:200]}")
                if method != "GET":
                    check(_digest(w) == before, f"{user} {method} {path} changed stored data")
                elif user == "adm-b":  # the same request by an admin of every site finds the object
                    ok = root.get(url, headers={"accept": "application/json"})
                    assert ok.status_code not in (403, 404) and ok.status_code < 500, \
                        f"admin GET {url}: {ok.status_code} {ok.text[:200]} (the fixture's id is not real)"
                checked["refused"].append(f"{method} {path}")
    for path in STREAMS:  # the same stream for an admin of every site does carry site A (so the check means it)
        check(w.a in _stream_head(root, path), f"admin GET {path}: no site-A item to compare with")
    root.close()
    assert not failures, f"{len(failures)} scoping failures:\n" + "\n".join(failures)
    assert checked["refused"] and checked["lists"]
    print(f"scope: {len(set(checked['refused']))} routes refused, {len(set(checked['lists']))} lists clean, "
          f"{len(set(checked['public']))} public, {len(set(checked['self']))} self")


def test_audit_shows_only_the_users_sites(world: World) -> None:
    w = world
    with w.client("adm-a") as ca, w.client("adm-b") as cb:
        assert cb.get(f"/api/v1/gate/sites/{w.a}/settings").status_code == 404  # denied and audited
        mine = ca.get("/api/v1/audit", params={"limit": 1000}).json()
        theirs = cb.get("/api/v1/audit", params={"limit": 1000}).json()
        assert mine and all(e["site"] == w.a or (e["site"] is None and e["who"] == "adm-a") for e in mine)
        assert any(e["action"] == "scope" and e["who"] == "adm-b" for e in mine)  # site A's admin sees the try
        assert all(e["site"] in (w.b, None) for e in theirs) and all(w.a not in json.dumps(e) for e in theirs)
        page = cb.get("/audit", headers={"accept": "text/html"})
        assert page.status_code == 200 and w.a not in page.text


def _hardened(r: httpx.Response, what: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    script = csp.split("script-src", 1)[1].split(";", 1)[0] if "script-src" in csp else ""
    assert "frame-ancestors 'none'" in csp and script.strip() == "'self'", (what, csp)
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("referrer-policy") and r.headers.get("x-frame-options") == "DENY", what


def test_every_get_route_sends_the_hardening_headers(world: World) -> None:
    """Every GET route of the server (from the route table, with real ids), signed in or not, and errors too."""
    w = world
    n = 0
    with w.client("admin") as c, httpx.Client(base_url=w.live.url, timeout=20) as anon:
        for method, path in _routes(w):
            if method != "GET" or path in ("/docs", "/redoc", "/docs/oauth2-redirect") or path in STREAMS:
                continue
            url = path
            for name in _params(path):
                url = re.sub(r"{" + name + r"(?::[^}]*)?}", _path_value(w, path, name), url)
            for accept in ("text/html", "application/json"):
                r = c.get(url, headers={"accept": accept})
                assert r.status_code < 500, (url, r.status_code)
                _hardened(r, f"GET {url} ({accept})")
                n += 1
            _hardened(anon.get(url, headers={"accept": "text/html"}), f"anonymous GET {url}")
        for extra in ("/static/linli.js", "/nowhere"):
            _hardened(c.get(extra), extra)
        docs = c.get("/docs")  # Swagger UI served from here: a policy of its own, still no framing
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert n > 60


def test_cookies_are_secure_over_https(world: World) -> None:
    import asyncio

    async def over_tls() -> httpx.Response:
        # the running app, called in-process with an https scope (no second lifespan)
        transport = httpx.ASGITransport(app=world.live.app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
            return await tls.get("/login", params={"lang": "en"})

    r = asyncio.run(over_tls())
    cookies = r.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("; Secure" in ck for ck in cookies), cookies
    plain = httpx.get(world.live.url + "/login", params={"lang": "en"})
    assert plain.headers.get_list("set-cookie") and not any(
        "Secure" in ck for ck in plain.headers.get_list("set-cookie"))
