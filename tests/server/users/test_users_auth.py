"""Users in the database (bootstrap from settings, admin creates / changes / resets), login sessions with CSRF
for pages, HTTP Basic kept for the API, site scoping in API and pages, privacy (plates, snapshots)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from linli.testing import wait_for
from server.auth import User, can_see_plates, can_see_snapshots, mask_plate
from server.auth.privacy import mask_data
from server.db.models import AuditLog
from server.testing import PASSWORDS, DeviceFactory, Live, jbody, known, stored

JPEG = b"\xff\xd8\xff\xe0ops\xff\xd9"


def _login(live: Live, name: str, password: str | None = None, next_: str = "/", lands: str | None = None
           ) -> httpx.Client:
    """A browser-like client signed in through the login form (cookie session)."""
    c = httpx.Client(base_url=live.ls.url, timeout=10, headers={"Accept": "text/html"})
    form = c.get("/login")
    assert form.status_code == 200 and "登录" in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = c.post("/login", data={"username": name, "password": password or PASSWORDS[name], "csrf": csrf,
                               "next": next_})
    assert r.status_code == 303, r.text[:300]
    assert r.headers["location"] == (lands or next_)
    return c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_privacy_helpers() -> None:
    maint = User("m", "maintenance", None)
    mgr = User("p", "manager", frozenset({"east"}))
    assert can_see_plates(mgr) and can_see_snapshots(mgr)
    assert not can_see_plates(maint) and not can_see_snapshots(maint)
    assert mask_plate("沪A12345") == "沪A***45" and mask_plate("沪AD12345") == "沪A****45"
    assert mask_plate("沪A 123 45") == "沪A***45" and mask_plate("AB") == "***" and mask_plate(None) == ""
    data = {"plate": "沪B67890", "lane": 1, "seen": [{"plates": ["沪C11111"]}]}
    assert mask_data(data, maint) == {"plate": "沪B***90", "lane": 1, "seen": [{"plates": ["沪C***11"]}]}
    assert mask_data(data, mgr) is data


def test_login_session_csrf_and_logout(live: Live) -> None:
    anon = httpx.Client(base_url=live.ls.url, timeout=10)
    # a browser asking for a page is sent to the login form; API clients still get the Basic challenge
    r = anon.get("/dashboards?since=2026-01-01", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fdashboards")
    assert anon.get("/api/v1/devices", headers={"Accept": "text/html"}).status_code == 401
    # a wrong password: refused, audited, no cookie
    form = anon.get("/login")
    bad = anon.post("/login", data={"username": "manager", "password": "nope-nope", "csrf": _csrf(form.text)})
    assert bad.status_code == 401 and "用户名或密码不正确" in bad.text and "linli_session" not in bad.cookies
    # without the login form's CSRF cookie/token: refused
    assert httpx.post(live.ls.url + "/login", data={"username": "manager", "password": PASSWORDS["manager"],
                                                    "csrf": "forged"}).status_code == 400
    # an open redirect is not followed
    _login(live, "manager", next_="//evil.example/", lands="/").close()
    c = _login(live, "manager", next_="/workorders")
    assert "linli_session" in c.cookies
    page = c.get("/workorders")
    assert page.status_code == 200 and "物业经理" in page.text and 'action="/logout"' in page.text
    # the session cookie works for the API's reads; writes need the CSRF header
    assert c.get("/api/v1/me").json()["name"] == "manager"
    url = "/api/v1/me/password"
    body = {"current_password": "wrong-one", "password": "whatever-123"}
    assert c.post(url, json=body).status_code == 403
    r = c.post(url, json=body, headers={"X-CSRF-Token": _csrf(page.text)})
    assert r.status_code == 403 and "current password" in r.text  # CSRF passed, the password check refused
    # logout needs the form token; afterwards the cookie is dead
    assert c.post("/logout", data={"csrf": "forged"}).status_code == 403
    out = c.post("/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert c.get("/workorders").status_code == 303
    with live.server.db.session() as s:
        acts = [(a.who, a.action, a.result) for a in s.query(AuditLog).filter(AuditLog.action.in_(["login", "logout"]))]
    assert ("manager", "login", "denied") in acts and ("manager", "login", "ok") in acts
    assert ("manager", "logout", "ok") in acts


def test_admin_manages_users_and_they_take_effect_at_once(live: Live) -> None:
    name = f"wang{uuid.uuid4().hex[:6]}"
    with live.ls.client("admin") as admin, live.ls.client("manager") as mgr:
        assert mgr.get("/api/v1/users").status_code == 403
        assert mgr.post("/api/v1/users", json={"name": name, "password": "pw-12345678",
                                               "role": "admin"}).status_code == 403
        r = admin.post("/api/v1/users", json={"name": name, "password": "pw-12345678", "role": "maintenance",
                                              "sites": ["east"], "display_name": "王师傅"})
        assert r.status_code == 201 and jbody(r)["sites"] == ["east"]
        assert admin.post("/api/v1/users", json={"name": name, "password": "pw-12345678",
                                                 "role": "manager"}).status_code == 422  # exists
        assert admin.post("/api/v1/users", json={"name": "x y", "password": "pw-12345678",
                                                 "role": "manager"}).status_code == 422
        assert admin.post("/api/v1/users", json={"name": "short", "password": "1234",
                                                 "role": "manager"}).status_code == 422
        with httpx.Client(base_url=live.ls.url, auth=(name, "pw-12345678"), timeout=10) as wang:
            me = jbody(wang.get("/api/v1/me"))
            assert me["role"] == "maintenance" and me["sites"] == ["east"]
            # role and sites change: effective on the next request
            admin.patch(f"/api/v1/users/{name}", json={"role": "manager", "sites": None})
            me = jbody(wang.get("/api/v1/me"))
            assert me["role"] == "manager" and me["sites"] is None
            # reset: the old password stops working at once (even though it was cached)
            assert admin.post(f"/api/v1/users/{name}/password", json={"password": "new-pass-999"}).status_code == 204
            assert wang.get("/api/v1/me").status_code == 401
        with httpx.Client(base_url=live.ls.url, auth=(name, "new-pass-999"), timeout=10) as wang:
            assert wang.get("/api/v1/me").status_code == 200
            admin.patch(f"/api/v1/users/{name}", json={"active": False})
            assert wang.get("/api/v1/me").status_code == 401
        # an admin cannot lock themselves out
        assert admin.patch("/api/v1/users/admin", json={"active": False}).status_code == 422
        assert admin.patch("/api/v1/users/admin", json={"role": "manager"}).status_code == 422
        assert admin.patch("/api/v1/users/nobody-here", json={"active": True}).status_code == 404
        names = {u["name"]: u for u in jbody(admin.get("/api/v1/users"))}
        assert {"admin", "manager", "maint", "east"} <= set(names)  # bootstrapped from the settings
        assert names[name]["active"] is False
    with live.server.db.session() as s:
        acts = {a.action for a in s.query(AuditLog).filter(AuditLog.target == f"user/{name}")}
    assert {"user.create", "user.update", "user.password_reset"} <= acts


def test_admin_users_page_creates_a_user(live: Live) -> None:
    name = f"li{uuid.uuid4().hex[:6]}"
    c = _login(live, "admin", next_="/admin/users")
    page = c.get("/admin/users")
    assert page.status_code == 200 and "用户与角色" in page.text
    r = c.post("/admin/users", data={"csrf": _csrf(page.text), "name": name, "password": "li-pass-123",
                                     "role": "manager", "sites": "east， west", "display_name": "李经理"})
    assert r.status_code == 303 and "msg=done_ok" in r.headers["location"]
    assert c.post("/admin/users", data={"csrf": "forged", "name": name + "x", "password": "li-pass-123",
                                        "role": "manager"}).status_code == 403
    acc = live.server.auth.get(name)
    assert acc is not None and acc.sites == ["east", "west"] and acc.role == "manager"
    mgr = _login(live, "manager")
    assert mgr.get("/admin/users").status_code == 403
    mgr.close()
    c.close()


def test_site_scoping_api_and_pages(live: Live, device: DeviceFactory) -> None:
    """User "east" manages site east only: site west's devices, events, orders and charts are 404 for them."""
    west, east = device("p1"), device("e1")
    known(live.server, west.ref)
    known(live.server, east.ref)
    fw, fe = f"w_{uuid.uuid4().hex[:6]}", f"e_{uuid.uuid4().hex[:6]}"
    ew = west.event("probe.fault", severity="alarm", data={"fault": fw})
    ee = east.event("probe.fault", severity="alarm", data={"fault": fe})
    wait_for(lambda: stored(live.server, ew.id, ee.id) == 2, what="alarms")
    with live.ls.client("admin") as admin:
        orders = {o["fault"]: o["id"] for o in jbody(admin.get("/api/v1/workorders", params={"state": "all"}))}
    wid, eid = orders[fw], orders[fe]
    with live.ls.client("east") as http:
        assert http.get(f"/api/v1/devices/{west.ref.key}").status_code == 404
        assert http.get(f"/api/v1/devices/{east.ref.key}").status_code == 200
        assert http.get(f"/api/v1/events/{ew.id}").status_code == 404
        assert {d["site"] for d in jbody(http.get("/api/v1/devices"))} == {"east"}
        assert http.get(f"/api/v1/workorders/{wid}").status_code == 404
        assert http.get(f"/api/v1/workorders/{eid}").status_code == 200
        assert http.post(f"/api/v1/workorders/{wid}/steps/dispatch", json={"assignee": "maint"}).status_code == 404
        assert {o["site"] for o in jbody(http.get("/api/v1/workorders", params={"state": "all"}))} == {"east"}
        body = {"site": "west", "kind": "probe", "device": west.ref.device, "fault": "x"}
        assert http.post("/api/v1/workorders", json=body).status_code == 404
        assert http.get("/api/v1/dashboards/panels/fleet.events", params={"site": "west"}).status_code == 404
        fleet = jbody(http.get("/api/v1/dashboards/panels/fleet.devices"))
        assert fleet["labels"] == ["east"]
        # pages
        assert http.get(f"/devices/{west.ref.key}").status_code == 404
        assert http.get(f"/workorders/{wid}").status_code == 404
        assert http.get("/dashboards", params={"site": "west"}).status_code == 404
        listing = http.get("/workorders", params={"state": "all"}).text
        assert fe.replace("_", " ") in listing and fw.replace("_", " ") not in listing  # typed keys: words
        # the east manager cannot dispatch to someone who does not see site east
        r = http.post(f"/api/v1/workorders/{eid}/steps/dispatch", json={"assignee": "maint"})
        assert r.status_code == 200  # maint sees every site
    with live.ls.client("admin") as admin:
        assert admin.get(f"/api/v1/workorders/{wid}").status_code == 200


def test_privacy_snapshots_hidden_for_maintenance(live: Live, device: DeviceFactory) -> None:
    dev = device("p2")
    known(live.server, dev.ref)
    sha = dev.blob(JPEG + uuid.uuid4().bytes)
    ev = dev.event("probe.passage", data={"plate": "沪A12345"}, blobs=[sha])
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event with snapshot")
    with live.ls.client("maint") as http:
        assert http.get(f"/api/v1/blobs/{sha}").status_code == 403
        assert jbody(http.get(f"/api/v1/events/{ev.id}"))["data"]["plate"] == "沪A***45"
        page = http.get(f"/devices/{dev.ref.key}").text
        assert f"/api/v1/blobs/{sha}" not in page and "抓拍仅限物业经理查看" in page
    with live.ls.client("manager") as http:
        assert http.get(f"/api/v1/blobs/{sha}").status_code == 200
        assert jbody(http.get(f"/api/v1/events/{ev.id}"))["data"]["plate"] == "沪A12345"
        assert f"/api/v1/blobs/{sha}" in http.get(f"/devices/{dev.ref.key}").text


@pytest.mark.parametrize("path", ["/workorders", "/dashboards", "/admin/users", "/audit", "/account"])
def test_new_pages_need_auth(live: Live, path: str) -> None:
    with live.ls.client(None) as http:
        r = http.get(path)
        assert r.status_code == 401 and "www-authenticate" in r.headers


def test_login_lock_out_after_repeated_wrong_passwords(live: Live) -> None:
    name = f"zhao{uuid.uuid4().hex[:6]}"
    live.server.auth.create(name, "right-pass-1", "maintenance", None, "test")
    c = httpx.Client(base_url=live.ls.url, timeout=10)
    for _ in range(live.server.settings.auth.login_max_failures):
        form = c.get("/login")
        assert c.post("/login", data={"username": name, "password": "wrong-pass", "csrf": _csrf(form.text)}
                      ).status_code == 401
    form = c.get("/login")
    locked = c.post("/login", data={"username": name, "password": "right-pass-1", "csrf": _csrf(form.text)})
    assert locked.status_code == 429 and "5 分钟" in locked.text and "linli_session" not in c.cookies
    c.close()
