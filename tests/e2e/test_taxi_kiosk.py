"""The taxi kiosk as a resident meets it: the kiosk page in real headless Chromium (touch, at the screen size and
device pixel ratio of config/taxi_kiosk.yaml), served by a real agent, talking through Mosquitto to a real server
whose dispatcher uses the simulated fleet. Every screen is screenshotted (artifacts/screenshots/taxi-kiosk-*.png)
and checked in the browser: every button at least 60 × 60 CSS px, every text at least 18 px and 4.5:1 contrast.

The kiosk's network goes through a relay that the tests can unplug (network loss), and the agent is restarted on
its data folder mid-order (reboot)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from edge.hal.sim import PinBoard
from edge.runtime.agent import Agent
from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory
from linli.broker import free_port
from linli.contract.taxi_kiosk import Place
from linli.testing import CHROMIUM, TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.taxi_kiosk.models import TaxiOrder, TaxiOrderStep
from server.taxi_kiosk.provider import NoProvider
from server.taxi_kiosk.simfleet import SimFleet
from server.taxi_kiosk.worker import TaxiService
from server.testing import LiveServer, make_settings, running
from tests.edge.runtime.test_localpage_phone import PAGES, check_agent_pages

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config" / "taxi_kiosk.yaml").read_text(encoding="utf-8"))
APP = CONFIG["app"]
SCREEN = APP["screen"]
PLACE = Place(**{k: APP["place"][k] for k in ("name", "pickup_point", "lat", "lon")})
SIM = {"time_scale": 1, "decide_s": [0.3, 0.3], "accept_prob": 1.0, "driver_cancel_prob": 0.0,
       "driver_no_show_prob": 0.0, "passenger_no_show_prob": 0.0, "board_after_s": 3600, "wait_at_pickup_s": 3600,
       "taxis_per_area": 0, "seed": 11, "tick_s": 0.05, "arriving_m": 200, "hang_s": 1.0}
TAXI = {"provider": "sim", "tick_s": 0.05, "poll_interval_s": 0.1, "search_timeout_s": 60, "provider_timeout_s": 0.5,
        "retry_initial_s": 0.1, "retry_max_s": 0.3, "push_min_interval_s": 0, "sim": SIM}

A11Y_JS = """() => {
  const parse = (s) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(s || ""); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {c: p.slice(0, 3), a: p.length > 3 ? p[3] : 1};
  };
  const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const bgOf = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a >= 0.99) return c.c;
    }
    return [255, 255, 255];
  };
  const shown = (el) => { const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && st.visibility !== "hidden" && !el.closest("[hidden]"); };
  const buttons = [], texts = [];
  for (const b of document.querySelectorAll("button")) { if (!shown(b)) continue;
    const r = b.getBoundingClientRect(); buttons.push({text: b.innerText.trim(), w: r.width, h: r.height}); }
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const text = n.textContent.trim(); const el = n.parentElement;
    if (!text || !el || !shown(el) || el.closest("[aria-hidden=true]")) continue;
    let fg, bg, size;
    const svgText = el.closest("text");
    if (svgText) {
      fg = parse(getComputedStyle(svgText).fill).c; bg = hex(svgText.dataset.bg);
      const m = svgText.getScreenCTM();  // scale of the map, whatever the label's rotation
      size = parseFloat(getComputedStyle(svgText).fontSize) * Math.hypot(m.a, m.b);
    } else {
      fg = parse(getComputedStyle(el).color).c; bg = bgOf(el); size = parseFloat(getComputedStyle(el).fontSize);
    }
    texts.push({text: text.slice(0, 30), size: Math.round(size * 10) / 10,
                ratio: Math.round(ratio(fg, bg) * 100) / 100});
  }
  return {buttons, texts, dpr: window.devicePixelRatio, width: innerWidth, height: innerHeight};
}"""

MAP_SIZED_JS = """() => { const svg = document.querySelector("svg.map"), box = document.querySelector(".mapbox");
  return !svg || Math.abs(Number(svg.dataset.px) - Math.round(box.clientWidth)) <= 1; }"""


class Cable:
    """A TCP relay between the kiosk and the broker that can be unplugged (the kiosk's network link)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.plugged = threading.Event()
        self.plugged.set()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="cable").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.plugged.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def unplug(self) -> None:
        self.plugged.clear()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def plug(self) -> None:
        self.plugged.set()

    def close(self) -> None:
        self.unplug()
        self.listener.close()


@dataclass
class Stack:
    ls: LiveServer
    factory: AgentFactory
    cable: Cable
    page_port: int
    agent: Agent
    ctx: Any
    page: Any

    @property
    def fleet(self) -> SimFleet:
        service: TaxiService = self.ls.server.kind_services["taxi_kiosk"]
        assert isinstance(service.provider, SimFleet)
        return service.provider

    def start_agent(self) -> Agent:
        app = {**APP, "kiosk_page": {"host": "127.0.0.1", "port": self.page_port}, "loop_interval_s": 0.05,
               "timing": {**APP["timing"], "picked_up_show_s": 2, "cancelled_show_s": 2}}
        hal = {**CONFIG["hal"], "pin_factory": "mock", "relays": {}, "speaker": {"backend": "record"}}
        ref = self.agent.ref if getattr(self, "agent", None) is not None else None
        agent: Agent = self.factory.make(ref, hal=hal, app=app, mqtt={"port": self.cable.port})
        assert agent.app.page_url is not None, agent.app.page_error
        self.agent = agent
        return agent

    def reboot(self) -> Agent:
        self.agent.stop(flush_s=0.2)
        self.factory.agents.remove(self.agent)
        return self.start_agent()

    # ------------------------------------------------------------------ the screen
    def shows(self, screen: str, timeout: float = 40) -> None:
        self.page.wait_for_selector(f'#screen[data-screen="{screen}"]', timeout=timeout * 1000)

    def tap(self, selector: str) -> None:
        self.ready()
        self.page.locator(selector).tap()

    def ready(self) -> None:
        """The page ignores taps for 0.4 s after one (ghost and double taps): wait that out, as a person would."""
        self.page.wait_for_selector("body:not(.busy)")

    def shot(self, name: str, page: Any = None, width: int = SCREEN["width"], dpr: float = SCREEN["dpr"]) -> None:
        """Screenshot and the accessibility rules, computed in the browser."""
        page = page or self.page
        wait_for(lambda: page.evaluate(MAP_SIZED_JS), 20, what="the map drawn for its size on this screen")
        screenshot(page, f"taxi-kiosk-{name}")
        got = page.evaluate(A11Y_JS)
        assert got["dpr"] == dpr and got["width"] == width
        small = [b for b in got["buttons"] if b["w"] < 60 or b["h"] < 60]
        assert got["buttons"] and not small, f"{name}: buttons under 60 × 60 px: {small}"
        tiny = [t for t in got["texts"] if t["size"] < 18]
        assert not tiny, f"{name}: text under 18 px: {tiny}"
        faint = [t for t in got["texts"] if t["ratio"] < 4.5]
        assert not faint, f"{name}: contrast under 4.5:1: {faint}"

    # ------------------------------------------------------------------ the server's view
    def orders(self) -> list[TaxiOrder]:
        with self.ls.server.db.session() as s:
            return list(s.scalars(select(TaxiOrder).order_by(TaxiOrder.stored_at)))

    def order(self, order_id: str) -> TaxiOrder:
        o = self.maybe_order(order_id)
        assert o is not None, f"order {order_id} is not at the server"
        return o

    def maybe_order(self, order_id: str) -> TaxiOrder | None:
        with self.ls.server.db.session() as s:
            return s.get(TaxiOrder, order_id)

    def server_state(self, order_id: str) -> str | None:
        o = self.maybe_order(order_id)
        return o.state if o is not None else None

    def current(self) -> str:
        o = self.agent.app.kiosk.order
        assert o is not None
        return o.id

    def ride(self, order_id: str) -> str:
        ride = wait_for(lambda: self.fleet.ride_of(order_id), 30, what=f"a ride for {order_id}")
        return str(ride.id)

    def finish(self) -> None:
        """Back to the start screen (cancel whatever is under way)."""
        self.agent.app.kiosk.cancel("resident")
        self.agent.app.kiosk.dismiss()
        self.fleet.resume()
        self.shows("idle")


@pytest.fixture(scope="module")
def stack(mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    root = tmp_path_factory.mktemp("taxi-e2e")
    settings = make_settings(root / "srv", f"sqlite:///{root / 'linli.db'}", mqtt_broker,
                             kinds={"taxi_kiosk": TAXI})
    cable = Cable(mqtt_broker.host, mqtt_broker.port)
    with running(create_app(settings)) as ls, chromium(has_touch=True) as base:
        factory = AgentFactory(mqtt_broker, root / "agents", site="t-taxi-e2e", kind="taxi_kiosk", n=1)
        ctx = base.browser.new_context(viewport={"width": SCREEN["width"], "height": SCREEN["height"]},
                                       device_scale_factor=SCREEN["dpr"], has_touch=True, locale="zh-CN")
        ctx.set_default_timeout(60_000)  # the machine may be shared with other test runs: be patient, not flaky
        st = Stack(ls, factory, cable, free_port(), None, ctx, None)  # type: ignore[arg-type]
        st.start_agent()
        assert st.agent.link.wait_connected(10)
        st.page = ctx.new_page()
        st.page.goto(st.agent.app.page_url, wait_until="load")
        try:
            yield st
        finally:
            ctx.close()
            factory.close()
            cable.close()


def test_tap_to_pickup_shows_every_screen(stack: Stack) -> None:
    stack.shows("idle")
    stack.shot("idle")
    stack.fleet.place_taxis(PLACE, [(600, -1000)])  # one free taxi, 1.6 km by road
    stack.fleet.pause()
    stack.tap("#call")
    stack.shows("calling")
    oid = stack.current()
    wait_for(lambda: stack.server_state(oid) == "searching", 30, what="the server has the order")
    stack.shot("calling")
    stack.fleet.resume()
    stack.shows("assigned")
    stack.fleet.pause()
    ride = stack.ride(oid)
    plate = stack.fleet.status(ride).driver.plate  # type: ignore[union-attr]
    page_plate = stack.page.inner_text("#plate")
    assert page_plate == f"{plate[:2]}·{plate[2:]}"
    assert "师傅" in stack.page.inner_text("#driver") and "分钟" in stack.page.inner_text("#eta")
    assert stack.page.locator("svg.map .map-car").count() == 1
    stack.shot("assigned")
    stack.fleet.drive(ride, stack.fleet.rides[ride].remaining - 150)
    stack.shows("arriving")
    assert "车快到了" in stack.page.inner_text("h1")
    stack.shot("arriving")
    stack.fleet.arrive(ride)
    stack.page.locator("h1", has_text="车已到达").wait_for()
    stack.shot("arrived")
    stack.fleet.board(ride)
    stack.shows("picked_up")
    stack.shot("picked_up")
    stack.shows("idle")
    assert stack.order(oid).state == "picked_up"
    assert stack.agent.hal.speaker.wait_idle(5)
    heard = [h.text for h in stack.agent.hal.speaker.history]
    assert any(f"车牌，{'，'.join(plate)}" in h for h in heard), heard
    stack.fleet.resume()


def test_cancel_asks_first_then_cancels_at_the_server(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [(400, 800)])
    stack.tap("#call")
    stack.shows("assigned")
    oid = stack.current()
    stack.tap("#cancel")
    stack.shows("confirm_cancel")
    stack.shot("confirm_cancel")
    stack.tap("#confirm-no")  # "no, keep waiting"
    stack.shows("assigned")
    stack.tap("#cancel")
    stack.tap("#confirm-yes")
    stack.shows("cancelled")
    stack.shot("cancelled")
    wait_for(lambda: stack.server_state(oid) == "cancelled", 30, what="cancelled at the server")
    ride = stack.fleet.ride_of(oid)
    assert ride is not None and ride.state == "cancelled"
    stack.shows("idle")


def test_no_driver_shows_the_hotline_and_retry_calls_again(stack: Stack) -> None:
    d = stack.ls.server.kind_services["taxi_kiosk"].dispatcher
    d.cfg = d.cfg.model_copy(update={"search_timeout_s": 1.5})
    stack.fleet.place_taxis(PLACE, [])  # not one taxi free
    try:
        stack.tap("#call")
        stack.shows("no_driver")
        assert stack.page.inner_text("#hotline") == "96822"
        stack.shot("no_driver")
        first = stack.current()
        stack.tap("#retry")
        stack.shows("calling")
        assert stack.current() != first and stack.order(first).state == "no_driver"
    finally:
        d.cfg = stack.ls.server.kind_services["taxi_kiosk"].cfg
    stack.finish()


def test_optional_phone_number_on_the_keypad(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [])
    stack.tap("#call")
    stack.shows("calling")
    oid = stack.current()
    stack.tap("#phone")
    stack.shows("phone")
    for d in "13812345679":
        stack.tap(f'#keypad [data-digit="{d}"]')
    stack.tap('#keypad [data-digit="del"]')
    stack.tap('#keypad [data-digit="8"]')
    assert stack.page.inner_text("#phone-display") == "13812345678"
    stack.shot("phone")
    stack.tap("#phone-ok")
    stack.shows("calling")
    assert "138****5678" in stack.page.inner_text("#screen")
    wait_for(lambda: (o := stack.maybe_order(oid)) is not None and o.phone == "13812345678", 10,
             what="phone at the server")
    stack.finish()


def test_slow_typing_survives_server_updates_and_keeps_the_keypad_open(stack: Stack) -> None:
    """An elderly resident types one digit every ~1.5 s while the search goes on: every server update redraws the
    screen, and the question would close after its time-out (set to 4 s here) — the digits and the keypad stay."""
    stack.fleet.place_taxis(PLACE, [])
    stack.tap("#call")
    stack.shows("calling")
    kiosk = stack.agent.app.kiosk
    timing = kiosk.cfg.timing
    before = timing.confirm_timeout_s
    object.__setattr__(timing, "confirm_timeout_s", 4.0)
    try:
        stack.tap("#phone")
        stack.shows("phone")
        for d in "13912345678":
            stack.tap(f'#keypad [data-digit="{d}"]')
            version = kiosk.version
            with kiosk._lock:  # what every order update from the server does: a new screen version
                kiosk._changed_now()
            stack.page.wait_for_function(f"() => Number(document.getElementById('app').dataset.version) > {version}")
            stack.page.wait_for_timeout(1500)
            assert stack.page.locator("#phone-display").count() == 1, "the keypad closed while typing"
        assert stack.page.inner_text("#phone-display") == "13912345678"
        stack.page.wait_for_timeout(5000)  # and once they stop typing, the question does time out
        stack.shows("calling")
    finally:
        object.__setattr__(timing, "confirm_timeout_s", before)
    stack.finish()


def test_double_tap_and_the_physical_button_make_one_order(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [])
    before = len(stack.orders())
    stack.ready()
    stack.page.evaluate("() => { const b = document.getElementById('call'); for (let i = 0; i < 5; i++) b.click(); }")
    stack.shows("calling")
    board = PinBoard()  # and the big physical button, pressed and released
    for level in (False, True):
        board.set_input(APP_PIN, level)
    stack.agent.link.flush(5)
    wait_for(lambda: len(stack.orders()) == before + 1, 30, what="the order at the server")
    stack.page.wait_for_timeout(500)
    assert len(stack.orders()) == before + 1
    stack.finish()
    for level in (False, True):  # on the start screen the button calls, like the green button
        board.set_input(APP_PIN, level)
    stack.shows("calling")
    wait_for(lambda: len(stack.orders()) == before + 2, 30, what="the button's order at the server")
    assert stack.orders()[-1].source == "button"
    stack.finish()


def test_reboot_mid_order_comes_back_to_the_same_screen(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [(-800, 600)])
    stack.tap("#call")
    stack.shows("assigned")
    stack.fleet.pause()
    plate = stack.page.inner_text("#plate")
    oid = stack.current()
    stack.reboot()
    stack.page.locator("#plate", has_text=plate).wait_for()
    assert stack.agent.app.kiosk.screen_name() == "assigned" and stack.current() == oid
    stack.shows("assigned")
    stack.shot("after-reboot")
    stack.fleet.resume()
    stack.finish()


def test_network_loss_is_shown_and_the_order_carries_on(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [(600, 600)])
    stack.fleet.pause()
    stack.tap("#call")
    stack.shows("calling")
    oid = stack.current()
    wait_for(lambda: stack.server_state(oid) == "searching", 30, what="order at the server")
    stack.cable.unplug()
    stack.page.wait_for_selector("#offline", timeout=30_000)
    assert "网络中断" in stack.page.inner_text("#offline")
    stack.shot("offline")
    stack.fleet.resume()  # meanwhile a driver accepts: the kiosk cannot hear it
    wait_for(lambda: stack.server_state(oid) in ("assigned", "arriving"), 30, what="driver found")
    stack.page.wait_for_timeout(300)
    assert stack.agent.app.kiosk.screen_name() == "calling"
    stack.cable.plug()  # back: the kiosk asks for the state and shows the car
    stack.page.wait_for_selector("#plate", timeout=40_000)
    assert stack.page.locator("#offline").count() == 0
    steps = [s for s in stack_steps(stack, oid)]
    assert "assigned" in steps
    stack.finish()


def test_provider_errors_and_timeouts_still_get_a_car(stack: Stack) -> None:
    stack.fleet.place_taxis(PLACE, [(200, -400)])
    stack.fleet.inject("error", "timeout", "error")
    stack.tap("#call")
    stack.page.wait_for_selector("#plate", timeout=40_000)
    oid = stack.current()
    assert stack.order(oid).provider_errors == 3
    assert {"provider_error", "provider_timeout"} <= set(stack_steps(stack, oid))
    stack.finish()


def test_english_screens(stack: Stack) -> None:
    stack.tap('[data-action="lang"]')
    stack.page.wait_for_selector("text=Call a taxi")
    stack.shot("idle-en")
    assert stack.page.evaluate("document.documentElement.lang") == "en"
    stack.fleet.place_taxis(PLACE, [(900, 300)])
    stack.tap("#call")
    stack.page.wait_for_selector("#plate", timeout=40_000)
    stack.fleet.pause()
    assert "Your taxi is" in stack.page.inner_text("h1")
    stack.shot("assigned-en")
    stack.tap('[data-action="lang"]')
    stack.page.wait_for_selector("text=取消叫车")
    stack.finish()


def test_the_other_endings_are_clear_too(stack: Stack) -> None:
    """The platform unreachable, the driver waited in vain, too many calls: each says what to do next."""
    d = stack.ls.server.kind_services["taxi_kiosk"].dispatcher
    fleet, d.provider = d.provider, NoProvider()
    try:
        stack.tap("#call")
        stack.shows("unavailable")
        assert stack.page.inner_text("#hotline") == "96822"
        stack.shot("unavailable")
    finally:
        d.provider = fleet
    stack.finish()
    stack.fleet.configure(passenger_no_show_prob=1.0, wait_at_pickup_s=1)
    try:
        stack.fleet.place_taxis(PLACE, [(200, 200)])
        stack.tap("#call")
        stack.page.wait_for_selector("#plate", timeout=40_000)
        stack.fleet.arrive(stack.ride(stack.current()))
        stack.shows("no_show")
        stack.shot("no_show")
    finally:
        stack.fleet.configure(passenger_no_show_prob=0.0, wait_at_pickup_s=3600)
    stack.finish()
    app = stack.agent.app
    cfg = app.cfg
    app.apply_config(cfg.model_copy(update={"max_orders_per_hour": 1}))
    try:
        stack.tap("#call")
        stack.shows("limit")
        stack.shot("limit")
        stack.tap("#back")
        stack.shows("idle")
    finally:
        app.apply_config(cfg)


def test_a_landscape_screen_works_too(stack: Stack) -> None:
    """A 10-inch landscape panel (1280 × 800) at twice the pixel density: the same rules hold."""
    ctx = stack.ctx.browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=2,
                                        has_touch=True, locale="zh-CN")
    ctx.set_default_timeout(60_000)
    try:
        page = ctx.new_page()
        page.goto(stack.agent.app.page_url, wait_until="load")
        page.wait_for_selector('#screen[data-screen="idle"]')
        stack.shot("idle-landscape", page, 1280, 2)
        stack.fleet.place_taxis(PLACE, [(-600, -400)])
        page.locator("#call").tap()
        page.wait_for_selector("#plate", timeout=40_000)
        stack.fleet.pause()
        stack.shot("assigned-landscape", page, 1280, 2)
    finally:
        ctx.close()
        stack.finish()


def test_maintenance_page_fits_a_phone(stack: Stack) -> None:
    """The kiosk agent's local (maintenance) pages at 390×844, with a call under way (its order and the staff
    cancel button shown): no sideways scrolling, touch targets of at least 44 px; screenshots in both languages at
    desk and phone size (artifacts/screenshots/agent-taxi_kiosk-*.png)."""
    stack.fleet.pause()
    try:
        stack.tap("#call")
        stack.shows("calling")
        findings = check_agent_pages(stack.agent.page.url, PAGES, "agent-taxi_kiosk", stack.ctx.browser)
        status = httpx.get(stack.agent.page.url + "/", auth=("maint", DEFAULT_PAGE_PASSWORD), timeout=10).text
        assert 'data-state="calling">正在叫车<' in status  # the app's state in words (the contract's name)
    finally:
        stack.finish()
    assert not findings, f"{len(findings)} phone-layout problems:\n" + "\n".join(findings[:60])


APP_PIN = CONFIG["hal"]["inputs"][APP["button"]]["pin"]


def stack_steps(stack: Stack, order_id: str) -> list[str]:
    with stack.ls.server.db.session() as s:
        return list(s.scalars(select(TaxiOrderStep.step).where(TaxiOrderStep.order_id == order_id)
                              .order_by(TaxiOrderStep.at, TaxiOrderStep.id)))
