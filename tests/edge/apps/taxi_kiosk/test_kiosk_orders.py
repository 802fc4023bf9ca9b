"""The kiosk's order flow through a real agent: taps on its page and presses of its button make orders (one at a
time, idempotent), the server's ``order_update`` commands move the screen, and the journal brings an order back
after a reboot. The server is played by a Recorder on the real broker."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from edge.hal.sim import PinBoard
from edge.runtime.harness import Recorder
from linli.contract.taxi_kiosk import (
    EVENT_ORDER_CANCEL,
    EVENT_ORDER_PHONE,
    EVENT_ORDER_REQUESTED,
    EVENT_ORDER_SYNC,
    OrderCancel,
    OrderRequested,
)
from linli.testing import wait_for
from tests.edge.apps.taxi_kiosk.conftest import BUTTON_PIN, DRIVER, Kiosks, events, page, screen_is, tap, update


def test_tap_makes_one_order_and_updates_move_the_screen_to_the_ride(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    assert k.link.wait_connected(10)
    wait_for(lambda: k.app.kiosk.online, 5, what="kiosk sees the network")
    out = tap(k)
    assert out["created"] and out["screen"] == "calling" and "正在为您叫车" in out["html"]
    ev = server.wait(events(server, k, EVENT_ORDER_REQUESTED), what="order event")[0]
    req = OrderRequested.model_validate(ev.data)
    assert req.order_id == out["order_id"] and req.request_key == "tap-key-0001" and req.source == "screen"
    assert req.place.name == "曹杨新村东门" and req.elderly_priority
    oid = req.order_id

    update(server, k, oid, 1, "searching")
    update(server, k, oid, 2, "assigned", driver=DRIVER, eta_s=180, distance_m=820,
           car={"dx_m": 500, "dy_m": -650, "heading_deg": 0})
    screen_is(k, "assigned")
    html = page(k).get("/").text
    assert "沪A·T1234" in html and "张师傅" in html and "大约 3 分钟到" in html and "820 米" in html
    assert "<svg" in html and "map-car" in html
    update(server, k, oid, 1, "searching")  # late and out of order: ignored
    update(server, k, oid, 3, "arriving", driver=DRIVER, eta_s=20, distance_m=0,
           car={"dx_m": 0, "dy_m": 0, "heading_deg": 90})
    screen_is(k, "arriving")
    assert "车已到达，请上车" in page(k).get("/").text
    update(server, k, oid, 4, "picked_up")
    screen_is(k, "picked_up")
    screen_is(k, "idle", 5)  # picked_up_show_s = 1
    results = server.wait(lambda: (rs := [r for r in server.results(k.ref) if r.name == "order_update"])[4:]
                          and rs, what="5 command results")
    stale = [r.result for r in results if r.ok and r.result and r.result.get("why") == "old_seq"]
    assert stale == [{"applied": False, "why": "old_seq", "seq": 2}]
    assert k.hal.speaker.wait_idle(5)
    said = [h.text for h in k.hal.speaker.history]
    assert any("车牌，沪，A，T，1，2，3，4" in s for s in said), said
    assert any("祝您一路平安" in s for s in said)
    assert len(server.events(k.ref, EVENT_ORDER_REQUESTED)) == 1


def test_double_tap_and_taps_while_busy_never_make_a_second_order(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    with ThreadPoolExecutor(8) as pool:  # eight taps at once with the key of the screen shown
        outs = list(pool.map(lambda _: tap(k, "same-screen-key"), range(8)))
    assert sum(o["created"] for o in outs) == 1 and len({o["order_id"] for o in outs}) == 1
    assert not tap(k, "another-screen-key")["created"]  # an order is under way: it is the answer
    presses = PinBoard()
    presses.set_input(BUTTON_PIN, False)  # the physical button too
    presses.set_input(BUTTON_PIN, True)
    server.wait(events(server, k, EVENT_ORDER_REQUESTED), what="order event")
    k.link.flush(5)
    assert len(server.events(k.ref, EVENT_ORDER_REQUESTED)) == 1
    assert k.app.kiosk.counts["duplicates"] >= 8


def test_same_key_after_the_order_ended_returns_that_order(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    first = tap(k, "key-of-that-screen")
    with page(k) as c:
        assert c.post("/api/cancel", json={}).json()["cancelled"] == first["order_id"]
    again = tap(k, "key-of-that-screen")  # a retried request of the first tap, arriving late
    assert not again["created"] and again["order_id"] == first["order_id"]
    ev = server.wait(events(server, k, EVENT_ORDER_CANCEL), what="cancel event")[0]
    assert OrderCancel.model_validate(ev.data).reason == "resident"
    new = tap(k, "key-of-a-new-screen")
    assert new["created"] and new["order_id"] != first["order_id"]


def test_physical_button_calls_and_then_repeats_the_prompt(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    board = PinBoard()

    def press() -> None:
        board.set_input(BUTTON_PIN, False)  # contact to GND with pull-up: low = pressed
        wait_for(lambda: k.hal.inputs["call_button"].is_active, 2, what="button pressed")
        board.set_input(BUTTON_PIN, True)
        wait_for(lambda: not k.hal.inputs["call_button"].is_active, 2, what="button released")

    press()
    ev = server.wait(events(server, k, EVENT_ORDER_REQUESTED), what="order from the button")[0]
    assert ev.data["source"] == "button"
    screen_is(k, "calling")
    heard = len(k.hal.speaker.history)
    press()  # on the calling screen: the prompt again, no second order
    wait_for(lambda: len(k.hal.speaker.history) > heard, 3, what="prompt repeated")
    assert "正在为您叫车" in k.hal.speaker.history[-1].text
    assert len(server.events(k.ref, EVENT_ORDER_REQUESTED)) == 1 and k.app.button_presses == 2


def test_cancel_ends_the_order_here_and_late_updates_do_not_revive_it(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    oid = tap(k)["order_id"]
    with page(k) as c:
        assert c.post("/api/ui", json={"mode": "confirm_cancel"}).json()["screen"] == "confirm_cancel"
        assert "确定不坐车了吗" in c.get("/").text
        assert c.post("/api/ui", json={"mode": None}).json()["screen"] == "calling"  # "no, keep waiting"
        c.post("/api/ui", json={"mode": "confirm_cancel"})
        assert c.post("/api/cancel", json={}).json()["screen"] == "cancelled"
    server.wait(events(server, k, EVENT_ORDER_CANCEL), what="cancel event")
    update(server, k, oid, 1, "assigned", driver=DRIVER, eta_s=60, distance_m=300)
    res = server.wait(lambda: [r for r in server.results(k.ref) if r.name == "order_update"], what="result")[0]
    assert res.ok and res.result == {"applied": False, "why": "ended_here", "state": "cancelled"}
    assert k.app.kiosk.screen_name() in ("cancelled", "idle")
    wait_for(lambda: any(h.text == "已取消叫车。" for h in k.hal.speaker.history), 3, what="'cancelled' spoken")


def test_no_word_from_the_server_ends_in_the_hotline_screen(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make(app={"timing": {"no_answer_s": 2}})
    oid = tap(k)["order_id"]
    screen_is(k, "unavailable", 6)
    html = page(k).get("/").text
    assert "96822" in html and "再叫一次" in html
    ev = server.wait(events(server, k, EVENT_ORDER_CANCEL), what="cancel event")[0]
    assert ev.data == {"order_id": oid, "reason": "no_answer"}
    wait_for(lambda: any("96822" in h.text.replace("，", "") for h in k.hal.speaker.history), 3,
             what="hotline spoken")
    retry = tap(k, "retry-key-000001")  # "try again"
    assert retry["created"] and retry["screen"] == "calling"


def test_server_no_driver_shows_hotline_and_retry_makes_a_new_order(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    oid = tap(k)["order_id"]
    update(server, k, oid, 1, "no_driver")
    screen_is(k, "no_driver")
    with page(k) as c:
        html = c.get("/").text
        assert "附近暂时没有空车" in html and "96822" in html
        assert c.post("/api/dismiss", json={}).json()["screen"] == "idle"  # "no, thanks"
    board = PinBoard()  # and the button calls again from there
    board.set_input(BUTTON_PIN, False)
    board.set_input(BUTTON_PIN, True)
    server.wait(lambda: server.events(k.ref, EVENT_ORDER_REQUESTED)[1:], what="second order")


def test_reboot_mid_order_comes_back_to_the_same_screen_and_asks_for_news(kiosks: Kiosks,
                                                                          server: Recorder) -> None:
    k = kiosks.make()
    assert k.link.wait_connected(10)
    oid = tap(k)["order_id"]
    update(server, k, oid, 1, "assigned", driver=DRIVER, eta_s=240, distance_m=1500,
           car={"dx_m": -900, "dy_m": 1200, "heading_deg": 180})
    screen_is(k, "assigned")
    k2 = kiosks.reboot(k)
    assert k2.app.kiosk.screen_name() == "assigned" and k2.app.kiosk.order.id == oid
    assert "沪A·T1234" in page(k2).get("/").text
    # after the reboot the kiosk asks for news, saying which update it has (from the journal)
    server.wait(lambda: [e for e in server.events(k2.ref, EVENT_ORDER_SYNC) if e.data == {"order_id": oid, "seq": 1}],
                what="sync after the reboot")
    wait_for(lambda: any("已为您叫到车" in h.text for h in k2.hal.speaker.history), 3,
             what="the waiting resident hears it again")
    update(server, k2, oid, 2, "picked_up")
    screen_is(k2, "picked_up")


def test_phone_number_is_optional_and_checked(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    oid = tap(k)["order_id"]
    with page(k) as c:
        assert c.post("/api/ui", json={"mode": "phone"}).json()["screen"] == "phone"
        bad = c.post("/api/phone", json={"order_id": oid, "phone": "12345"}).json()
        assert bad["error"] == "invalid" and bad["screen"] == "phone"
        ok = c.post("/api/phone", json={"order_id": oid, "phone": "13812345678"}).json()
        assert ok["error"] is None and ok["screen"] == "calling" and "138****5678" in ok["html"]
        assert not c.post("/api/ui", json={"mode": "phone"}).json()["ok"]  # only once
    ev = server.wait(events(server, k, EVENT_ORDER_PHONE), what="phone event")
    assert [e.data for e in ev] == [{"order_id": oid, "phone": "13812345678"}]


def test_too_many_calls_in_an_hour_are_refused_with_the_hotline(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make(app={"max_orders_per_hour": 2})
    with page(k) as c:
        for i in range(2):
            assert tap(k, f"limit-key-{i:04d}")["created"]
            c.post("/api/cancel", json={})
        refused = tap(k, "limit-key-0002")
        assert not refused["created"] and refused["refused"] == "limit" and refused["screen"] == "limit"
        assert "叫车次数太多了" in refused["html"] and "96822" in refused["html"]
    k.link.flush(5)
    assert len(server.events(k.ref, EVENT_ORDER_REQUESTED)) == 2


def test_bad_requests_to_the_page_are_refused_and_change_nothing(kiosks: Kiosks) -> None:
    k = kiosks.make()
    with page(k) as c:
        before = c.get("/screen", params={"v": -1}).json()["version"]
        assert c.post("/api/call", json={"key": "x"}).status_code == 422  # key too short
        assert c.post("/api/call", json={"key": "valid-key-000", "extra": 1}).status_code == 422
        assert c.post("/api/call", content=b"{not json").status_code == 422
        assert c.post("/api/call", content=b"x" * 10_000).status_code == 413
        assert c.post("/api/lang", json={"lang": "fr"}).status_code == 422
        assert c.post("/api/call", json={"key": "valid-key-000"},
                      headers={"Origin": "http://evil.example"}).status_code == 403
        assert c.get("/screen", params={"v": -1}).json()["version"] == before
        assert k.app.kiosk.screen_name() == "idle" and k.app.kiosk.order is None
        r = c.get("/")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert c.get("/static/kiosk.js").status_code == 200


def test_long_poll_answers_as_soon_as_the_screen_changes(kiosks: Kiosks) -> None:
    k = kiosks.make()
    wait_for(lambda: k.app.kiosk.online, 10, what="online (the network coming up is a change of its own)")
    with page(k) as c:
        v = c.get("/screen", params={"v": -1}).json()["version"]
        got: dict[str, object] = {}
        t = threading.Thread(target=lambda: got.update(c.get("/screen", params={"v": v}).json()))
        t.start()
        tap(k)
        t.join(10)
        assert got["screen"] == "calling" and got["version"] != v


def test_english_screen_and_voice_then_back_to_chinese(kiosks: Kiosks) -> None:
    k = kiosks.make(app={"timing": {"lang_reset_s": 10}})
    with page(k) as c:
        r = c.post("/api/lang", json={"lang": "en"}).json()
        assert r["lang"] == "en" and "Call a taxi" in r["html"] and 'lang="zh-Hans"' in r["html"]
        wait_for(lambda: k.hal.speaker.history and k.hal.speaker.history[-1].lang == "en", 3, what="English prompt")
        assert "Need a taxi?" in c.get("/").text
        c.post("/api/lang", json={"lang": "zh"})
        assert "叫出租车" in c.get("/").text


def test_staff_cancel_and_voice_test_from_the_maintenance_page(kiosks: Kiosks, server: Recorder) -> None:
    k = kiosks.make()
    assert k.runner is not None
    refused = k.runner.run_local("cancel_order", {}, by="local:maint")
    assert not refused.ok and "no order" in (refused.error or "")
    oid = tap(k)["order_id"]
    res = k.runner.run_local("cancel_order", {}, by="local:maint")
    assert res.ok and res.result == {"order_id": oid, "state": "cancelled"}
    ev = server.wait(events(server, k, EVENT_ORDER_CANCEL), what="cancel")[0]
    assert ev.data["reason"] == "staff"
    assert k.runner.run_local("test_voice", {}, by="local:maint").ok
    frag = k.app.page_fragment("zh")
    assert "叫车屏页面" in frag and k.app.page_url in frag and "已取消" in frag
    g = k.app.gauges()
    assert g["orders_today"] == 1 and g["cancelled_today"] == 1 and g["kiosk_page_up"] is True
