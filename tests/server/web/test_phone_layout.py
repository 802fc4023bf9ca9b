"""Every GET page of the server, taken from the app's route table, in real Chromium at phone size (390×844): no
sideways scrolling and touch targets of at least 44 px (rules in tests/phone_layout.py). A small world with a
device of each kind fills the routes' parameters; a GET route the test cannot open fails it, unless it is listed
below with the reason. The pages only a flow reaches are reached by that flow: a resident pays for a port on the
payment simulator's cashier page (/pay/sim/…, then the order page /r/o/…), a kiosk calls a taxi (/taxi/orders/…).
Screenshots of every page at desk and phone size in zh and en:
artifacts/screenshots/page-<name>-<desk|phone>-<lang>.png.

The desired-config form (generated from the kind's config schema) is filled in on a phone too: a wrong value comes
back with its field's message and everything typed, a right one reaches the device."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli.contract import Channel, ConfigDesired, DeviceRef, Kind, decode, new_id, utcnow
from linli.contract.taxi_kiosk import EVENT_ORDER_REQUESTED
from linli.testing import CHROMIUM, TestBroker, chromium, wait_for
from server.app import create_app
from server.db.models import Device
from server.lift_guard.models import LiftClassifier
from server.payments import tokens
from server.taxi_kiosk.models import TaxiOrder
from server.testing import PASSWORDS, DevicePool, DeviceSim, LiveServer, known, make_settings, running, stored
from server.workorders.models import WorkOrder
from tests.phone_layout import DESK, PHONE, check_phone, shoot
from tests.server.web.test_no_machine_text import machine_text, visible_text

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

#: GET routes that are not pages a person reads (data, files, machine endpoints, third-party UI)
NOT_PAGES = {
    "/openapi.json": "the API description (JSON)",
    "/metrics": "Prometheus text",
    "/healthz": "a health probe (JSON)",
    "/releases/{filename}": "an update file for agents",
    "/classifiers/{filename}": "a lift classifier file for agents (JSON)",
    "/r/o/{key}/live.json": "the order page's live data (JSON)",
    "/docs": "Swagger UI (its own vendored layout)",
    "/login": "opened signed out below",
}
#: GET pages only a flow reaches (made by the world below): a resident's payment, a kiosk's call
FLOWS = ("/pay/sim/{prepay_id}", "/r/o/{key}", "/taxi/orders/{order_id}")
SITE = "phone-west"  # its own site: the shared broker keeps its devices retained for later tests
PILE_GAUGES = {"mcu_ok": True, "meter_ok": True, "smoke": False, "tariff_version": 1, "p1_state": "idle",
               "p2_state": "charging", "p2_w": 820.0}


def _paths(routes: list[Any], prefix: str = "") -> Iterator[str]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router (FastAPI keeps it as it was)
        if inner is not None:
            yield from _paths(inner.routes, prefix + getattr(r.include_context, "prefix", ""))
        elif getattr(r, "path", None) and "GET" in (getattr(r, "methods", None) or ()):
            yield prefix + r.path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mqtt_broker: TestBroker, device_pool: DevicePool
          ) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("phoneweb")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'phone.db'}", mqtt_broker,
                             payments={"provider": "sim", "start_timeout_s": 2, "online_within_s": 600})
    sims: dict[Kind, DeviceSim] = {}
    with running(create_app(settings)) as ls:
        ref, creds = device_pool["p1"]
        sims[Kind.probe] = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        for kind, name in ((Kind.lift_guard, "lift-1"), (Kind.gate, "gate-1"), (Kind.charger, "pile-1"),
                           (Kind.taxi_kiosk, "kiosk-1")):
            sims[kind] = DeviceSim.provisioned(mqtt_broker, DeviceRef(SITE, kind, name))
        for sim in sims.values():
            known(ls.server, sim.ref)
            sim.telemetry()
        # a pile with two ports (its page shows remote start/stop buttons)
        sims[Kind.charger].telemetry(gauges=PILE_GAUGES)
        probe = sims[Kind.probe]
        ids = [probe.event("probe.input").id for _ in range(3)]
        # a lift block with its crop (the gallery's label buttons) and a trained classifier (the figures table)
        lift = sims[Kind.lift_guard]
        jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
        snap, cut = lift.blob(jpeg), lift.blob(jpeg + b"\0")
        ids.append(lift.event("lift.block", severity="warning", blobs=[snap, cut], data={
            "block_id": new_id(), "cls": "ebike", "label": "bicycle", "score": 0.9, "scores": [0.9], "track_s": 1.0,
            "latency_ms": 400.0, "seen_ms": 500.0, "objects": [], "model": "ssd", "relay": True, "crop": True}).id)
        with ls.server.db.session() as s:
            s.add(LiftClassifier(site=SITE, version=f"{SITE}-v1", state="ready", created_at=utcnow(),
                                 created_by="manager", sha256="a" * 64, size=10, metrics={
                                     "classes": ["ebike", "bicycle", "other"], "crops": 24, "seconds": 2.5,
                                     "trained_on": {"ebike": 6, "bicycle": 6, "other": 6},
                                     "heldout": [{"cls": c, "support": 2, "precision": 1.0, "recall": 0.5}
                                                 for c in ("ebike", "bicycle", "other")]}))
        ids.append(probe.event("probe.fault", severity="alarm", data={"fault": "smoke"}).id)
        wait_for(lambda: stored(ls.server, *ids) == len(ids), what="the events")

        def order() -> int | None:
            with ls.server.db.session() as s:
                return s.scalar(select(WorkOrder.id).limit(1))

        flows = {**_resident_pays(ls, sims[Kind.charger]), **_kiosk_calls(ls, sims[Kind.taxi_kiosk])}
        yield {"ls": ls, "sims": sims, "order": wait_for(order, what="a work order from the alarm"), **flows}
        for sim in sims.values():
            sim.close()


def _resident_pays(ls: LiveServer, pile: DeviceSim) -> dict[str, list[str]]:
    """A resident scans port 1's code and pays on the simulator's cashier page: its page and the order's page."""
    def online() -> bool:
        with ls.server.db.session() as s:
            return s.scalar(select(Device.gauges).where(Device.site == SITE, Device.device == pile.ref.device)
                            ) == PILE_GAUGES
    wait_for(online, what="the pile's ports at the server")
    token = tokens.make(ls.server.payments.token_key, tokens.Target("c", SITE, pile.ref.device, "1"))
    with httpx.Client(base_url=ls.url, timeout=20) as c:
        r = c.post(f"/r/c/{token}/pay", data={"choice": "amount:500"})
        assert r.status_code == 303 and "/pay/sim/" in r.headers["location"], r.headers.get("location")
        cashier = httpx.URL(r.headers["location"]).path
        r = c.post(cashier + "/confirm")
        assert r.status_code == 303 and "/r/o/" in r.headers["location"], r.headers.get("location")
    return {"/pay/sim/{prepay_id}": [cashier], "/r/o/{key}": [httpx.URL(r.headers["location"]).path]}


def _kiosk_calls(ls: LiveServer, kiosk: DeviceSim) -> dict[str, list[str]]:
    """The kiosk sends a call, as its screen does: the server's order page."""
    oid = new_id()
    kiosk.event(EVENT_ORDER_REQUESTED, data={
        "order_id": oid, "request_key": f"k-{oid}", "source": "screen", "phone": "13912345678",
        "place": {"name": "曹杨新村东门", "pickup_point": "东门候车点", "lat": 31.24035, "lon": 121.41452},
        "requested_at": datetime.now(UTC).isoformat(), "elderly_priority": True})

    def stored_order() -> bool:
        with ls.server.db.session() as s:
            return s.get(TaxiOrder, oid) is not None
    wait_for(stored_order, what="the taxi order at the server")
    return {"/taxi/orders/{order_id}": [f"/taxi/orders/{oid}"]}


def _urls(ls: LiveServer, w: dict[str, Any]) -> dict[str, list[str]]:
    """route path → the concrete URLs this world opens for it."""
    sims: dict[Kind, DeviceSim] = w["sims"]
    fill: dict[str, list[str]] = {
        "/dashboards/{kind}": [f"/dashboards/{k.value}" for k in Kind],
        "/workorders/{order_id}": [f"/workorders/{w['order']}"],
        "/devices/{site}/{kind}/{device}": [f"/devices/{s.ref.key}" for s in sims.values()],
        "/lift_guard/{site}/{device}": [f"/lift_guard/{SITE}/{sims[Kind.lift_guard].ref.device}"],
        "/charger/{site}/{device}": [f"/charger/{SITE}/{sims[Kind.charger].ref.device}"],
        "/lift_classifier/{site}": [f"/lift_classifier/{SITE}"],
        "/resident/sheets/charger/{site}/{device}": [f"/resident/sheets/charger/{SITE}/"
                                                     f"{sims[Kind.charger].ref.device}"],
        "/resident/sheets/gate/{site}/{device}": [f"/resident/sheets/gate/{SITE}/{sims[Kind.gate].ref.device}"],
        **{p: w[p] for p in FLOWS},
    }
    # the residents' pages: links as the QR sheets print them (port 1, exit lane "out")
    key = ls.server.payments.token_key
    fill["/r/c/{token}"] = ["/r/c/" + tokens.make(key, tokens.Target("c", SITE, sims[Kind.charger].ref.device, "1"))]
    fill["/r/g/{token}"] = ["/r/g/" + tokens.make(key, tokens.Target("g", SITE, sims[Kind.gate].ref.device, "out"))]
    out: dict[str, list[str]] = {}
    for path in sorted(set(_paths(ls.app.routes))):
        if path.startswith("/api/") or path in NOT_PAGES:
            continue
        out[path] = fill.get(path, [path] if "{" not in path else [])
    return out


@pytest.mark.timeout(300)  # every page, two languages, two viewports: ~2 min on a loaded 2-core machine
def test_every_server_page_fits_a_phone(world: dict[str, Any]) -> None:
    ls: LiveServer = world["ls"]
    urls = _urls(ls, world)
    assert not [p for p, u in urls.items() if not u], "GET pages this test cannot open: " + ", ".join(
        p for p, u in urls.items() if not u)
    findings: list[str] = []
    with chromium(http_credentials=("admin", PASSWORDS["admin"]), viewport=(PHONE["width"], PHONE["height"]),
                  has_touch=True) as ctx:
        phone = ctx.new_page()
        token = base64.b64encode(f"admin:{PASSWORDS['admin']}".encode()).decode()
        desk = ctx.browser.new_context(viewport=DESK, locale="zh-CN",
                                       extra_http_headers={"Authorization": f"Basic {token}"}).new_page()
        pages = [(p, u) for p, us in urls.items() for u in us] + [("/login", "/login")]
        for path, url in pages:
            # a page a flow reached is named by its route (its id is new each run)
            name = re.sub(r"[^a-z0-9]+", "-", (path if path in FLOWS else url).lower()).strip("-") or "home"
            for lang in ("zh", "en"):
                full = f"{ls.url}{url}{'&' if '?' in url else '?'}lang={lang}"
                resp = phone.goto(full)
                assert resp is not None and resp.status < 400, f"{url}: HTTP {resp and resp.status}"
                findings += [str(f) for f in check_phone(phone, url + f" [{lang}]")]
                if path in FLOWS:  # tests/server/web/test_no_machine_text.py's world has no flows: its rule here
                    raw = machine_text(visible_text(phone.content()), lang)
                    findings += [f"{url} [{lang}]: machine text {sorted(set(raw))[:8]}"] if raw else []
                shoot(phone, f"page-{name}-phone-{lang}")
                if url == "/dashboards/charger":  # money and energy charts say their unit
                    money = "元" if lang == "zh" else "yuan"
                    for panel, unit in (("charger.energy", "kWh"), ("charger.revenue", money)):
                        phone.locator(f'.chart[data-panel="{panel}"][data-loaded="1"]').wait_for(timeout=15000)
                        assert unit in phone.locator(f'[data-unit-of="{panel}"]').inner_text(), (panel, lang)
                if url == "/":  # the fleet table is a stack of cards, each cell labelled with its column
                    assert not phone.locator("#devices thead").is_visible()
                    label = phone.locator("#devices tbody td").first.get_attribute("data-label")
                    assert label == ("小区" if lang == "zh" else "Site")
                desk.goto(full)
                shoot(desk, f"page-{name}-desk-{lang}")
        desk.context.close()
    findings.sort(key=lambda f: "scrolls sideways" not in f)  # the worst first
    assert not findings, f"{len(findings)} phone-layout problems:\n" + "\n".join(findings[:80])


def test_config_form_on_a_phone(world: dict[str, Any]) -> None:
    """A maintainer on a phone changes a pile's limits through the form built from the charger's config schema:
    field names in Chinese (no keys), units, a select for an enum; a wrong value comes back with its field's
    message and everything typed; the right values reach the pile as one desired-config document."""
    ls: LiveServer = world["ls"]
    pile: DeviceSim = world["sims"][Kind.charger]
    with chromium(http_credentials=("maint", PASSWORDS["maint"]), viewport=(PHONE["width"], PHONE["height"]),
                  has_touch=True) as ctx:
        page = ctx.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(f"{ls.url}/devices/{pile.ref.key}?lang=zh")
        form = page.locator("#config-form")
        assert form.locator("details.cfg-section > summary").first.inner_text() == "常规"  # then each section
        assert form.locator("[data-field]").first.get_attribute("data-field") == "cfg.ports"  # the model's order
        form.locator("#sec-cfg-limits > summary").click()
        text = form.inner_text()
        assert "单口功率上限" in text and "瓦" in text and "port_max_w" not in text and "limits" not in text
        form.locator("input[name='cfg.limits.port_max_w']").fill("5000")  # above the schema's 3500
        form.locator("input[name='cfg.ports']").fill("4")
        form.locator("#sec-cfg-meter > summary").click()
        form.locator("select[name='cfg.meter.protocol']").select_option("modbus")
        form.locator("#sec-cfg-tariff > summary").click()  # a list of sections: one fieldset per item
        form.locator("input[name='cfg.tariff.tiers.0.max_w']").fill("400")
        form.locator("input[name='cfg.tariff.tiers.0.yuan_per_hour']").fill("0.8")
        form.locator("input[name=reason]").fill("调低单口功率")
        form.locator("button[type=submit]").click()
        err = page.locator("[data-field='cfg.limits.port_max_w'] .field-err")
        err.wait_for()
        assert err.inner_text() == "不能大于 3500 瓦"
        form = page.locator("#config-form")  # the page came back with everything typed
        assert form.locator("input[name='cfg.limits.port_max_w']").input_value() == "5000"
        assert form.locator("input[name='cfg.ports']").input_value() == "4"
        assert form.locator("select[name='cfg.meter.protocol']").input_value() == "modbus"
        assert form.locator("input[name=reason]").input_value() == "调低单口功率"
        assert form.locator("input[name='cfg.tariff.tiers.0.yuan_per_hour']").input_value() == "0.8"
        assert form.locator("input[name='cfg.tariff.tiers.1.max_w']").input_value() == ""  # one more to add
        assert not pile.messages(pile.ref.config_desired_topic)  # nothing sent
        findings = [str(f) for f in check_phone(page, "config form with an error")]
        assert not findings, "\n".join(findings)
        err.scroll_into_view_if_needed()
        shoot(page, "page-device-config-form-error-phone-zh")
        form.locator("input[name='cfg.limits.port_max_w']").fill("500")
        form.locator("button[type=submit]").click()
        page.wait_for_selector(".flash.ok")
        got = wait_for(lambda: pile.messages(pile.ref.config_desired_topic), what="desired config at the pile")
        desired = decode(Channel.config_desired, got[-1][1])
        assert isinstance(desired, ConfigDesired) and desired.by == "maint"
        assert desired.overrides == {"ports": 4, "limits": {"port_max_w": 500.0}, "meter": {"protocol": "modbus"},
                                     "tariff": {"tiers": [{"max_w": 400, "yuan_per_hour": 0.8}]}}
        page.goto(f"{ls.url}/devices/{pile.ref.key}?lang=en")  # the overrides in force fill the form again
        form = page.locator("#config-form")
        assert form.locator("input[name='cfg.limits.port_max_w']").input_value() == "500"
        assert "Port limit" in form.inner_text()
        shoot(page, "page-device-config-form-phone-en")
        # a tariff pushed to the site later replaces the tariff only: the maintainer's overrides stay
        with httpx.Client(base_url=ls.url, auth=("admin", PASSWORDS["admin"]), timeout=20) as c:
            r = c.post(f"/api/v1/charger/tariffs/{SITE}", json={"mode": "energy_tou", "tou": [
                {"start": "08:00", "end": "22:00", "yuan_per_kwh": 1.2},
                {"start": "22:00", "end": "08:00", "yuan_per_kwh": 0.6}]})
            assert r.status_code == 201, r.text
        got = wait_for(lambda: [m for m in pile.messages(pile.ref.config_desired_topic)[1:]],
                       what="the tariff at the pile")
        merged = decode(Channel.config_desired, got[-1][1])
        assert isinstance(merged, ConfigDesired) and merged.overrides["limits"] == {"port_max_w": 500.0}
        assert merged.overrides["ports"] == 4 and merged.overrides["tariff"]["mode"] == "energy_tou"
        page.set_viewport_size(DESK)  # the same form at a desk, in both languages
        shoot(page, "page-device-config-form-desk-en")
        page.goto(f"{ls.url}/devices/{pile.ref.key}?lang=zh")
        shoot(page, "page-device-config-form-desk-zh")
