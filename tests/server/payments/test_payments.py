"""Residents' payments on the server with real parts: the simulated provider's cashier page and its signed
notifications over real HTTP, a device on the real broker (commands seen, answers given), SQLite and PostgreSQL.

Proves: a forged QR code or notification does nothing; a pile offline is refused before payment; a notification
that comes twice starts one session; a start refused or unanswered is refunded in full; a settlement refunds the
unused prepay once; the provider adapter's refund is idempotent."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli.contract import DeviceRef, Kind, utcnow
from linli.testing import PostgresCluster, TestBroker, wait_for
from server.app import create_app
from server.db.models import AuditLog, Device
from server.payments import signing, tokens
from server.payments.models import PayOrder
from server.payments.provider import PaymentError, SignatureError
from server.payments.sim import SimProvider
from server.resident.pages import port_url
from server.testing import PASSWORDS, DeviceSim, LiveServer, make_settings, running

SITE = "pay-west"
PAYMENTS = {"provider": "sim", "start_timeout_s": 2, "online_within_s": 60}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def srv(request: pytest.FixtureRequest, mqtt_broker: TestBroker,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('paydb') / 'linli.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"pay_{uuid.uuid4().hex[:8]}")
    settings = make_settings(tmp_path_factory.mktemp("paydata"), url, mqtt_broker, payments=PAYMENTS)
    with running(create_app(settings)) as ls:
        yield ls


@pytest.fixture(scope="module")
def pile(mqtt_broker: TestBroker) -> Iterator[DeviceSim]:
    sim = DeviceSim.provisioned(mqtt_broker, DeviceRef(SITE, Kind.charger, "pile-p1"))
    yield sim
    sim.close()


def gauges(states: dict[int, str], **over: Any) -> dict[str, Any]:
    g: dict[str, Any] = {"mcu_ok": True, "meter_ok": True, "smoke": False, "tariff_version": 1}
    for n in range(1, 5):
        g[f"p{n}_state"] = states.get(n, "idle")
        g[f"p{n}_w"] = 0.0
        g[f"p{n}_wh"] = None
    return {**g, **over}


def ready(srv: LiveServer, pile: DeviceSim, states: dict[int, str] | None = None) -> None:
    pile.status("online")
    pile.telemetry(gauges=gauges(states or {}))
    want = (states or {}).get(1, "idle")

    def seen() -> bool:
        with srv.server.db.session() as s:
            d = s.scalars(select(Device).where(Device.site == SITE, Device.device == "pile-p1")).first()
            return d is not None and d.state == "online" and (d.gauges or {}).get("p1_state") == want

    wait_for(seen, 10, what="pile online with its ports at the server")


def url_of(srv: LiveServer, port: int) -> str:
    return port_url(srv.server.payments, srv.url, SITE, "pile-p1", port)


def sim(srv: LiveServer) -> SimProvider:
    prov = srv.server.payments.provider
    assert isinstance(prov, SimProvider)
    return prov


def pay_order(srv: LiveServer, port: int, choice: str = "amount:500") -> tuple[httpx.Client, str]:
    """Scan, choose, pay on the cashier page: returns the client and the order page path."""
    c = httpx.Client(timeout=10)
    r = c.post(url_of(srv, port) + "/pay", data={"choice": choice})
    assert r.status_code == 303, r.text
    cashier = srv.url + r.headers["location"]
    assert "/pay/sim/" in cashier
    page = c.get(cashier)
    assert "¥5.00" in page.text and "确认支付" in page.text
    r = c.post(cashier + "/confirm")
    assert r.status_code == 303 and "/r/o/" in r.headers["location"]
    return c, httpx.URL(r.headers["location"]).path


def row(srv: LiveServer, path: str) -> PayOrder:
    key = path.rsplit("/r/o/", 1)[1].split("?")[0]
    o = srv.server.payments.order(key)
    assert o is not None
    return o


def starts(pile: DeviceSim, oid: str) -> list[Any]:
    return [c for n, c in pile.commands() if n == "start" and c.args.get("order_id") == oid]


def test_qr_tokens_are_signed_per_port(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    url = url_of(srv, 2)
    with httpx.Client(timeout=10) as c:
        r = c.get(url)
        assert r.status_code == 200 and "2 号插座" in r.text and "收费标准" in r.text
        assert SITE not in r.text and "pile-p1" not in r.text  # no internal identifiers shown
        token = url.rsplit("/", 1)[1]
        body, sig = token.split(".")
        forged = tokens._b64(f"c|{SITE}|pile-p1|3".encode())  # another port with the old signature
        assert c.get(f"{srv.url}/r/c/{forged}.{sig}").status_code == 404
        assert c.get(f"{srv.url}/r/c/{body}.AAAA{sig[4:]}").status_code == 404
        assert c.get(f"{srv.url}/r/c/garbage").status_code == 404
        r = c.post(f"{srv.url}/r/c/{forged}.{sig}/pay", data={"choice": "full:0"})
        assert r.status_code == 404 and "二维码无效" in r.text
        assert "Socket 2" in c.get(url + "?lang=en").text


def test_offline_pile_is_refused_before_payment(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    pile.status("offline")  # what the broker publishes (the agent's will) when the pile drops off

    def offline() -> bool:
        with srv.server.db.session() as s:
            return s.scalars(select(Device.state).where(Device.site == SITE)).first() == "offline"

    wait_for(offline, 10, what="pile offline at the server")
    with srv.server.db.session() as s:
        before = s.query(PayOrder).count()
    with httpx.Client(timeout=10) as c:
        page = c.get(url_of(srv, 1))
        assert "离线" in page.text and 'id="pay"' not in page.text
        r = c.post(url_of(srv, 1) + "/pay", data={"choice": "full:0"})
        assert r.status_code == 303 and "error=pile_offline" in r.headers["location"]
    with srv.server.db.session() as s:
        assert s.query(PayOrder).count() == before  # no order, nothing paid
    ready(srv, pile, {1: "charging"})
    with httpx.Client(timeout=10) as c:  # a busy port is refused too
        r = c.post(url_of(srv, 1) + "/pay", data={"choice": "full:0"})
        assert "error=port_busy" in r.headers["location"]


def test_duplicate_notification_starts_one_session_and_settlement_refunds_unused(srv: LiveServer,
                                                                                 pile: DeviceSim) -> None:
    ready(srv, pile)
    c, path = pay_order(srv, 2)
    o = row(srv, path)
    wait_for(lambda: starts(pile, o.out_trade_no), 10, what="start at the pile")
    cmd = starts(pile, o.out_trade_no)[0]
    assert cmd.args == {"port": 2, "prepaid_fen": 500, "minutes": 0, "order_id": o.out_trade_no, "user": "pay:sim"}
    # the provider resends (its own retry, a network blip): answered success, nothing more starts
    assert sim(srv).renotify(o.out_trade_no) == 200
    assert sim(srv).renotify(o.out_trade_no) == 200
    wait_for(lambda: row(srv, path).notifications >= 3, 10, what="resends counted")
    assert len(starts(pile, o.out_trade_no)) == 1
    pile.result(cmd, "start", result={"order_id": o.out_trade_no, "port": 2, "state": "charging"})
    wait_for(lambda: row(srv, path).state == "running", 10, what="running")
    end = utcnow()
    pile.event("charger.settlement", data={
        "order_id": o.out_trade_no, "port": 2, "source": "remote", "user": "pay:sim", "mode": "time_tiers",
        "tariff_version": 1, "started_at": (end - timedelta(hours=2)).isoformat(), "ended_at": end.isoformat(),
        "charged_s": 7200, "energy_wh": 260.0, "max_power_w": 130.0, "tier_w": 200, "amount_fen": 50,
        "prepaid_fen": 500, "refund_fen": 450, "stop_reason": "full", "resumed": 0, "attempt": 1})
    wait_for(lambda: row(srv, path).refund_state == "done", 10, what="unused prepay refunded")
    final = row(srv, path)
    assert final.state == "done" and final.refund_fen == 450 and final.refund_reason == "unused"
    assert sim(srv).query(o.out_trade_no).refunded_fen == 450
    page = c.get(srv.url + path).text
    for field in ("开始时间", "结束时间", "充电时长", "充电电量", "功率档位", "档位依据", "电费单价", "服务费单价",
                  "服务量", "服务费", "合计", "退款", "¥0.50", "¥5.00", "已退回 ¥4.50", "0.260 kWh", "120 分钟"):
        assert field in page, field
    assert o.out_trade_no not in page and "pile-p1" not in page
    c.close()


def test_forged_or_replayed_notification_starts_nothing(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    c = httpx.Client(timeout=10)
    r = c.post(url_of(srv, 3) + "/pay", data={"choice": "full:0"})
    o = row(srv, "/r/o/" + _newest_key(srv))
    body = json.dumps({"out_trade_no": o.out_trade_no, "trade_no": "X1", "amount_fen": o.amount_fen,
                       "trade_state": "SUCCESS", "paid_at": utcnow().isoformat()}).encode()
    notify = f"{srv.url}/api/v1/payments/notify/sim"
    bad = signing.sign(b"not-the-provider-key-at-all", body)
    assert c.post(notify, content=body, headers=bad).status_code == 401
    old = signing.sign(sim(srv).key, body, now=utcnow().timestamp() - 3600)  # genuine but an hour old
    assert c.post(notify, content=body, headers=old).status_code == 401
    assert c.post(notify, content=body).status_code == 401
    assert r.status_code == 303
    assert row(srv, "/r/o/" + o.view_key).state == "created" and not starts(pile, o.out_trade_no)
    with pytest.raises(SignatureError):
        sim(srv).parse_notification(bad, body)
    c.close()


def _newest_key(srv: LiveServer) -> str:
    with srv.server.db.session() as s:
        return s.scalars(select(PayOrder.view_key).order_by(PayOrder.id.desc()).limit(1)).one()


def test_start_refused_by_the_pile_is_refunded_in_full(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    c, path = pay_order(srv, 4)
    o = row(srv, path)
    wait_for(lambda: starts(pile, o.out_trade_no), 10, what="start at the pile")
    pile.result(starts(pile, o.out_trade_no)[0], "start", ok=False, error="port 4 is out of service: fuse_blown")
    wait_for(lambda: row(srv, path).refund_state == "done", 10, what="full refund")
    final = row(srv, path)
    assert final.state == "failed" and final.failure == "start_refused" and final.refund_fen == 500
    page = c.get(srv.url + path).text
    assert "未能开始充电" in page and "已退回 ¥5.00" in page
    c.close()


def test_start_without_answer_is_refunded_and_stopped(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    c, path = pay_order(srv, 1)
    o = row(srv, path)
    wait_for(lambda: starts(pile, o.out_trade_no), 10, what="start at the pile")
    # no answer: after start_timeout_s (2 s) the order is refunded and a stop naming it goes out
    wait_for(lambda: row(srv, path).refund_state == "done", 15, what="refund after no answer")
    assert row(srv, path).failure == "no_answer"
    cmd = starts(pile, o.out_trade_no)[0]
    assert (cmd.expires - cmd.issued).total_seconds() <= 2.5  # a late delivery is refused by the pile
    wait_for(lambda: any(n == "stop" and x.args == {"port": 1, "order_id": o.out_trade_no}
                         for n, x in pile.commands()), 10, what="stop naming the order")
    with srv.server.db.session() as s:
        acts = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.who.like("payment:%")))]
    assert "payment.paid" in acts and "payment.refund" in acts
    c.close()


def test_sim_provider_refunds_are_idempotent_and_bounded(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    c, path = pay_order(srv, 3)
    o = row(srv, path)
    prov = sim(srv)
    assert prov.refund(o.out_trade_no, "T-1", 200, "test").amount_fen == 200
    assert prov.refund(o.out_trade_no, "T-1", 200, "test").amount_fen == 200  # same number: once
    assert prov.query(o.out_trade_no).refunded_fen == 200
    with pytest.raises(PaymentError):
        prov.refund(o.out_trade_no, "T-2", 400, "more than paid")
    c.close()


def test_staff_list_payments(srv: LiveServer, pile: DeviceSim) -> None:
    with httpx.Client(base_url=srv.url, auth=("manager", PASSWORDS["manager"]), timeout=10) as c:
        rows = c.get("/api/v1/payments/orders", params={"site": SITE}).json()
    assert rows and all(re.fullmatch(r"P[0-9A-Z]{26}", r["out_trade_no"]) for r in rows)
    assert httpx.get(srv.url + "/api/v1/payments/orders").status_code == 401


def test_printable_qr_sheet_per_pile_for_staff(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    with httpx.Client(base_url=srv.url, auth=("maint", PASSWORDS["maint"]), timeout=10) as c:
        r = c.get(f"/resident/sheets/charger/{SITE}/pile-p1")
        assert r.status_code == 200 and r.text.count("<svg") == 4 and "4 号插座" in r.text
    assert httpx.get(f"{srv.url}/resident/sheets/charger/{SITE}/pile-p1").status_code in (401, 303)
    # each code on the sheet is the port's signed URL (what the phone opens)
    import segno  # noqa: F401  (the sheet's renderer, as the gate's door codes)

    assert url_of(srv, 4) != url_of(srv, 3) and tokens.check(srv.server.payments.token_key,
                                                             url_of(srv, 4).rsplit("/", 1)[1]).port == 4


def test_unpaid_order_closes_and_a_late_payment_is_refunded(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    with httpx.Client(timeout=10) as c:
        r = c.post(url_of(srv, 2) + "/pay", data={"choice": "amount:200"})
        assert r.status_code == 303
    key = _newest_key(srv)
    o = row(srv, "/r/o/" + key)
    later = utcnow() + timedelta(seconds=PAYMENTS.get("order_ttl_s", 900) + 1)
    srv.server.payments.run_once(later)
    assert row(srv, "/r/o/" + key).state == "closed"
    assert sim(srv).query(o.out_trade_no).state == "closed"
    # the platform had taken the money anyway (its order closed a moment too late): all of it goes back
    prov = sim(srv)
    prov.orders[o.out_trade_no].state = "unpaid"
    prov.pay(o.prepay_id or "")
    wait_for(lambda: row(srv, "/r/o/" + key).refund_state == "done", 10, what="late payment refunded")
    final = row(srv, "/r/o/" + key)
    assert final.state == "failed" and final.failure == "expired" and final.refund_fen == 200
    assert not starts(pile, o.out_trade_no)


def _paths(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router (FastAPI keeps it as it was)
        if inner is not None:
            yield from _paths(inner.routes, prefix + getattr(r.include_context, "prefix", ""))
        elif getattr(r, "path", None):
            for m in getattr(r, "methods", None) or ():
                if m != "HEAD":
                    yield m, prefix + r.path


def test_public_resident_routes_are_declared_public_by_design(srv: LiveServer) -> None:
    from server.app import public_by_design
    from server.security.scope import PUBLIC

    declared = public_by_design()
    mine = {(m, p) for m, p in _paths(srv.app.routes)
            if p.startswith(("/r/", "/pay/sim/")) or p.startswith("/api/v1/payments/notify")}
    assert mine and mine == set(declared), mine ^ set(declared)
    assert all(PUBLIC.get(k) for k in declared)  # allow-listed, with a reason, by the route-table test
    with httpx.Client(base_url=srv.url, timeout=10) as c:  # the staff parts are not public
        assert c.get(f"/resident/sheets/charger/{SITE}/pile-p1").status_code in (401, 303)
        assert c.get("/api/v1/payments/orders").status_code == 401


def test_notifications_arriving_together_start_one_session(srv: LiveServer, pile: DeviceSim) -> None:
    import threading

    ready(srv, pile)
    with httpx.Client(timeout=10) as c:
        r = c.post(url_of(srv, 4) + "/pay", data={"choice": "amount:200"})
        assert r.status_code == 303
    o = row(srv, "/r/o/" + _newest_key(srv))
    prov = sim(srv)
    prov.cfg = prov.cfg.model_copy(update={"notify_delay_s": 0.0})
    codes: list[int] = []
    prov.pay(o.prepay_id or "")  # the provider's own notification, and four resends racing it
    threads = [threading.Thread(target=lambda: codes.append(prov.renotify(o.out_trade_no))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert codes == [200] * 4
    wait_for(lambda: row(srv, "/r/o/" + o.view_key).notifications >= 5, 10, what="all five notifications")
    wait_for(lambda: starts(pile, o.out_trade_no), 10, what="the start")
    assert len(starts(pile, o.out_trade_no)) == 1


def test_lost_notification_is_found_by_querying_the_provider(srv: LiveServer, pile: DeviceSim) -> None:
    ready(srv, pile)
    prov = sim(srv)
    pay = srv.server.payments
    old_sim, old_cfg = prov.cfg, pay.cfg
    prov.cfg = prov.cfg.model_copy(update={"lose_notifications": True})
    pay.cfg = pay.cfg.model_copy(update={"query_after_s": 1.0})
    try:
        c, path = pay_order(srv, 2)  # paid at the provider; its notification never arrives
        o = row(srv, path)
        wait_for(lambda: starts(pile, o.out_trade_no), 10, what="start after the query found the payment")
        wait_for(lambda: row(srv, path).state == "starting", 10, what="order starting")
        got = row(srv, path)
        assert got.trade_no == prov.orders[o.out_trade_no].trade_no
        assert prov.orders[o.out_trade_no].notified == 0  # nothing came over HTTP
        c.close()
    finally:
        prov.cfg, pay.cfg = old_sim, old_cfg


def test_paid_order_whose_dispatch_was_cut_off_is_dispatched_again(srv: LiveServer, pile: DeviceSim) -> None:
    """The server stopped between claiming a paid order and recording its start: the loop sends the start again
    (the pile would ignore a second one with the same order number), the resident is not left paid and waiting."""
    from sqlalchemy import update

    from server.payments.service import OPEN_STATES

    ready(srv, pile)
    with srv.server.db.session() as s:  # earlier tests on this module's server may have left port 3's order open
        s.execute(update(PayOrder).where(PayOrder.port == 3, PayOrder.state.in_(OPEN_STATES)).values(state="done"))
    prov = sim(srv)
    old = prov.cfg
    prov.cfg = prov.cfg.model_copy(update={"lose_notifications": True})
    try:
        c, path = pay_order(srv, 3)
    finally:
        prov.cfg = old
    o = row(srv, path)
    cut = utcnow() - timedelta(seconds=60)
    with srv.server.db.session() as s:  # as the notification left it: paid, claimed a minute ago, nothing sent
        s.execute(update(PayOrder).where(PayOrder.id == o.id).values(
            state="paid", trade_no=prov.orders[o.out_trade_no].trade_no, notified_at=cut, dispatched_at=cut))
    wait_for(lambda: starts(pile, o.out_trade_no), 10, what="start sent again")
    wait_for(lambda: row(srv, path).state == "starting", 10, what="starting")
    assert len(starts(pile, o.out_trade_no)) == 1
    c.close()
