"""The taxi API and pages: orders with their history, figures per kiosk, a staff cancel (audited, by role), privacy
of the resident's phone number, site scoping; and the pages in real headless Chromium (screenshots)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import select

from linli.testing import CHROMIUM, chromium, screenshot
from server.db.models import AuditLog
from server.testing import PASSWORDS
from tests.server.taxi_kiosk.conftest import Kiosk, Taxi

pytestmark = pytest.mark.parametrize("taxi", ["sqlite"], indirect=True)


@pytest.fixture
def orders(taxi: Taxi, kiosk: Kiosk) -> dict[str, str]:
    """Three calls from one kiosk: one ridden, one nobody took, one the resident cancelled at once."""
    ride = kiosk.request(phone="13912345678")
    kiosk.wait_driver(ride)
    fleet_ride = taxi.fleet.ride_of(ride)
    assert fleet_ride is not None
    taxi.fleet.board(fleet_ride.id)
    taxi.wait_state(ride, "picked_up")
    taxi.fleet.configure(accept_prob=0.0)  # every driver declines
    nobody = kiosk.request()
    taxi.wait_state(nobody, "searching")
    early = kiosk.request()  # a newer call supersedes the one nobody took …
    taxi.wait_state(nobody, "cancelled")
    kiosk.cancel(early)  # … and the resident changes their mind at once
    taxi.wait_state(early, "cancelled")
    return {"ride": ride, "superseded": nobody, "early": early}


def test_api_lists_orders_with_history_figures_and_masks_phones(taxi: Taxi, orders: dict[str, str]) -> None:
    with taxi.ls.client("admin") as c:
        got = c.get("/api/v1/taxi/orders", params={"site": "t-taxisrv"}).json()
        ids = [o["id"] for o in got]
        assert set(orders.values()) <= set(ids)
        ride = c.get(f"/api/v1/taxi/orders/{orders['ride']}").json()
        assert ride["state"] == "picked_up" and ride["phone"] == "13912345678"
        assert ride["wait_driver_s"] is not None and ride["wait_driver_s"] >= 0
        assert [s["step"] for s in ride["steps"]][:2] == ["requested", "ride_requested"]
        assert c.get("/api/v1/taxi/orders", params={"state": "bogus"}).status_code == 422
        assert c.get("/api/v1/taxi/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
        stats = c.get("/api/v1/taxi/stats", params={"days": 1, "site": "t-taxisrv"}).json()
        k = next(x for x in stats["kiosks"] if x["device"] == "kiosk-1")
        assert k["calls"] >= 3 and k["picked_up"] >= 1 and k["cancelled"] >= 2
        assert k["success_rate_pct"] == pytest.approx(100.0 * k["assigned"] / (k["calls"] - k["cancelled_early"]))
    with taxi.ls.client("maint") as c:
        masked = c.get(f"/api/v1/taxi/orders/{orders['ride']}").json()
        assert masked["phone"] == "139****5678"
    with taxi.ls.client("east") as c:  # a manager of another site sees none of them
        assert c.get(f"/api/v1/taxi/orders/{orders['ride']}").status_code == 404
        assert not [o for o in c.get("/api/v1/taxi/orders").json() if o["site"] == "t-taxisrv"]


def test_staff_cancel_is_audited_and_refused_for_managers_and_ended_orders(taxi: Taxi, kiosk: Kiosk) -> None:
    oid = kiosk.request()
    kiosk.wait_driver(oid)
    with taxi.ls.client("manager") as c:
        assert c.post(f"/api/v1/taxi/orders/{oid}/cancel").status_code == 403
    with taxi.ls.client("maint") as c:
        r = c.post(f"/api/v1/taxi/orders/{oid}/cancel")
        assert r.status_code == 202, r.text
        taxi.wait_state(oid, "cancelled")
        upd = kiosk.wait_update(oid, "cancelled")
        assert upd.note == "staff"
        assert c.post(f"/api/v1/taxi/orders/{oid}/cancel").status_code == 409
    with taxi.ls.server.db.session() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action == "taxi.cancel")))
    assert {(r.who, r.result) for r in rows} >= {("maint", "ok"), ("manager", "denied")}


@pytest.mark.browser
def test_pages_in_chromium(taxi: Taxi, orders: dict[str, str]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORDS['admin']}".encode()).decode()
    with chromium(viewport=(1280, 1000)) as ctx:
        ctx.set_extra_http_headers({"Authorization": auth})
        page = ctx.new_page()
        page.goto(taxi.ls.url + "/taxi?days=1", wait_until="networkidle")
        text = page.inner_text("body")
        assert "一键叫车" in text and "派车成功率" in text and "t-taxisrv/kiosk-1" in text
        assert page.locator("#taxi-recent tbody tr").count() >= 3
        screenshot(page, "taxi-server-overview")
        page.goto(taxi.ls.url + f"/taxi/orders/{orders['ride']}", wait_until="networkidle")
        text = page.inner_text("body")
        assert "已上车" in text and "139****5678" not in text and "13912345678" in text  # admin sees it
        assert page.locator("#order-steps tbody tr").count() >= 4
        screenshot(page, "taxi-server-order")
        page.goto(taxi.ls.url + f"/taxi/orders/{orders['ride']}?lang=en", wait_until="networkidle")
        assert "picked up" in page.inner_text("body")

