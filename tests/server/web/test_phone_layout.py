"""Every GET page of the server, taken from the app's route table, in real Chromium at phone size (390×844): no
sideways scrolling and touch targets of at least 44 px (rules in tests/phone_layout.py). A small world with a
device of each kind fills the routes' parameters; a GET route the test cannot open fails it, unless it is listed
below with the reason. Screenshots of every page at desk and phone size in zh and en:
artifacts/screenshots/page-<name>-<desk|phone>-<lang>.png."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from linli.contract import DeviceRef, Kind, new_id, utcnow
from linli.testing import CHROMIUM, TestBroker, chromium, wait_for
from server.app import create_app
from server.lift_guard.models import LiftClassifier
from server.payments import tokens
from server.testing import PASSWORDS, DevicePool, DeviceSim, LiveServer, known, make_settings, running, stored
from server.workorders.models import WorkOrder
from tests.phone_layout import DESK, PHONE, check_phone, shoot

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
#: GET pages this world does not reach: they need a payment or a taxi order made through their own flows
NEEDS_A_FLOW = {
    "/pay/sim/{prepay_id}": "a prepay id from the payment simulator",
    "/r/o/{key}": "a resident's paid order",
    "/taxi/orders/{order_id}": "a taxi order placed at the kiosk",
}
SITE = "west"


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
    settings = make_settings(tmp, f"sqlite:///{tmp / 'phone.db'}", mqtt_broker)
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
        sims[Kind.charger].telemetry(gauges={"p1_state": "idle", "p2_state": "charging", "p2_w": 820.0})
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

        yield {"ls": ls, "sims": sims, "order": wait_for(order, what="a work order from the alarm")}
        for sim in sims.values():
            sim.close()


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
    }
    # the residents' pages: links as the QR sheets print them (port 1, exit lane "out")
    key = ls.server.payments.token_key
    fill["/r/c/{token}"] = ["/r/c/" + tokens.make(key, tokens.Target("c", SITE, sims[Kind.charger].ref.device, "1"))]
    fill["/r/g/{token}"] = ["/r/g/" + tokens.make(key, tokens.Target("g", SITE, sims[Kind.gate].ref.device, "out"))]
    out: dict[str, list[str]] = {}
    for path in sorted(set(_paths(ls.app.routes))):
        if path.startswith("/api/") or path in NOT_PAGES or path in NEEDS_A_FLOW:
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
        pages = [u for us in urls.values() for u in us] + ["/login"]
        for url in pages:
            name = re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-") or "home"
            for lang in ("zh", "en"):
                full = f"{ls.url}{url}{'&' if '?' in url else '?'}lang={lang}"
                resp = phone.goto(full)
                assert resp is not None and resp.status < 400, f"{url}: HTTP {resp and resp.status}"
                findings += [str(f) for f in check_phone(phone, url + f" [{lang}]")]
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
