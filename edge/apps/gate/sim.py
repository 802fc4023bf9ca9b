"""The gate's simulated world, driving only the outside of the device: an LPR camera that pushes its reads over
HTTP (live reads, offline replays with duplicates, odd and broken pushes), cars that drive over the loop once the
barrier's relay pulses, a door contact, an exit button and a card/QR reader on a pty.

``LprCameraSim`` and ``CarSim`` are also what the end-to-end tests and the benchmark use.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from edge.hal.config import HalConfig
from edge.hal.sim import PinBoard
from linli.contract.gate import ListEntry

from .config import GateConfig


def push_doc(plate: str, *, serial: str = "sim-cam-1", colour: int = 1, confidence: float = 96.0,
             plate_id: int | str | None = None, offline: bool = False, at: datetime | None = None,
             image: bytes | None = None, camera_opened: bool = False, trigger: int = 8) -> dict[str, Any]:
    """A vzicar-style push as an LPR camera sends it."""
    at = at or datetime.now(UTC)
    pr: dict[str, Any] = {
        "license": plate, "colorType": colour, "type": 1, "confidence": confidence, "triggerType": trigger,
        "plateid": plate_id if plate_id is not None else random.randint(1, 2**31), "isoffline": int(offline),
        "direction": 0, "location": {"RECT": {"left": 100, "top": 200, "right": 320, "bottom": 270}},
        "timeStamp": {"Timeval": {"sec": int(at.timestamp()), "usec": at.microsecond}},
        "gioouts": [{"ionum": "io1", "ctrltype": 2 if camera_opened else 0}],
    }
    if image is not None:
        pr["imageFile"] = base64.b64encode(image).decode()
    return {"AlarmInfoPlate": {"serialno": serial, "ipaddr": "192.168.1.100", "deviceName": "IVS", "channel": 0,
                               "result": {"PlateResult": pr}}}


class LprCameraSim:
    """Pushes to the agent's endpoint like a camera (one HTTP client, real HTTP)."""

    def __init__(self, url: str, serial: str = "sim-cam-1", token: str | None = None,
                 basic: tuple[str, str] | None = None) -> None:
        """``token``: the shared secret, sent as ``?token=`` in the URL (as cameras that can only be given a
        URL do); ``basic``: HTTP Basic instead (camera models that send it)."""
        self.url = url + (f"?token={token}" if token else "")
        self.serial = serial
        self.client = httpx.Client(timeout=10, auth=basic)
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self._offline: list[dict[str, Any]] = []

    def push(self, plate: str, encoding: str = "utf-8", **kw: Any) -> tuple[int, dict[str, Any]]:
        doc = push_doc(plate, serial=self.serial, **kw)
        return self.send(json.dumps(doc, ensure_ascii=False).encode(encoding),
                         f"application/json; charset={'gbk' if encoding.lower() in ('gbk', 'gb18030') else 'utf-8'}")

    def send(self, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
        r = self.client.post(self.url, content=body, headers={"Content-Type": content_type})
        try:
            doc = r.json()
        except ValueError:
            doc = {}
        self.replies.append((r.status_code, doc))
        return r.status_code, doc

    def store_offline(self, plate: str, at: datetime, plate_id: int | str, opened: bool = True) -> None:
        """A read taken while the agent was unreachable (the camera's own offline whitelist decided)."""
        self._offline.append(push_doc(plate, serial=self.serial, plate_id=plate_id, offline=True, at=at,
                                      camera_opened=opened))

    def replay_offline(self, duplicates: int = 1, shuffle: bool = True) -> list[int]:
        """Resend the stored records (each ``duplicates`` times, out of order, as cameras do)."""
        docs = [d for d in self._offline for _ in range(duplicates)]
        if shuffle:
            random.shuffle(docs)
        return [self.send(json.dumps(d, ensure_ascii=False).encode())[0] for d in docs]

    def close(self) -> None:
        self.client.close()


@dataclass
class LanePins:
    open_pin: Any
    open_active_high: bool
    loop_pin: Any | None
    loop_active: bool


def lane_pins(hal: HalConfig, app: GateConfig, lane: str) -> LanePins:
    lc = app.lanes[lane]
    rel = hal.relays[lc.open_relay]
    loop_pin, active = None, True
    if lc.loop:
        inp = hal.inputs[lc.loop]
        loop_pin = inp.pin
        active = inp.active_state if inp.active_state is not None else not inp.pull_up
    return LanePins(rel.pin, rel.active_high, loop_pin, active)


class CarSim:
    """Cars at one lane: waits for the open relay's pulse (read on the pin), then drives over the loop."""

    def __init__(self, board: PinBoard, pins: LanePins) -> None:
        self.board = board
        self.pins = pins
        if pins.loop_pin is not None:
            board.set_input(pins.loop_pin, not pins.loop_active)

    def relay_on(self) -> bool:
        return self.board.output_level(self.pins.open_pin) == self.pins.open_active_high

    def pulses(self) -> int:
        """How many times the open relay was energised so far."""
        hist = self.board.history(self.pins.open_pin)
        return sum(1 for _, level in hist if bool(level) == self.pins.open_active_high)

    def wait_open(self, since_pulses: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pulses() > since_pulses:
                return True
            time.sleep(0.02)
        return False

    def loop(self, occupied: bool) -> None:
        if self.pins.loop_pin is not None:
            self.board.set_input(self.pins.loop_pin, self.pins.loop_active if occupied else not self.pins.loop_active)

    def wait_pulse_end(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while self.relay_on() and time.monotonic() < deadline:
            time.sleep(0.02)

    def drive_through(self, on_loop_s: float = 1.0) -> None:
        """The arm is up once the open pulse ended: drive onto the loop, then off it."""
        self.wait_pulse_end()
        self.loop(True)
        time.sleep(on_loop_s)
        self.loop(False)


SIM_RESIDENTS = ["沪A12345", "沪AD12345", "沪B67890", "沪C24680", "浙A88888"]
SIM_BLACKLIST = ["沪E44444"]


def plate_jpeg(text: str) -> bytes | None:
    try:
        from .scenes import jpeg, render_plate

        return jpeg(render_plate(text, 0.5), 80)
    except Exception:  # no font or no Pillow: pushes go without an image
        return None


class DoorSim:
    """A resident at the pedestrian door: presses the exit button, opens the door, lets it close again."""

    def __init__(self, board: PinBoard, hal: HalConfig, app: GateConfig) -> None:
        self.board = board
        d = app.door
        assert d is not None
        self.contact = self._pin(hal, d.door_contact)
        self.button = self._pin(hal, d.exit_button)
        self.close_door()
        if self.button is not None:
            self.board.set_input(self.button[0], not self.button[1])
        if d.fire_input:
            fire = self._pin(hal, d.fire_input)
            if fire is not None:
                self.board.set_input(fire[0], not fire[1])  # no fire

    @staticmethod
    def _pin(hal: HalConfig, name: str | None) -> tuple[Any, bool] | None:
        if not name:
            return None
        inp = hal.inputs[name]
        return inp.pin, inp.active_state if inp.active_state is not None else not inp.pull_up

    def close_door(self) -> None:
        if self.contact is not None:
            self.board.set_input(self.contact[0], not self.contact[1])

    def open_door(self) -> None:
        if self.contact is not None:
            self.board.set_input(self.contact[0], self.contact[1])

    def walk_out(self) -> None:
        if self.button is not None:
            self.board.set_input(self.button[0], self.button[1])
            time.sleep(0.1)
            self.board.set_input(self.button[0], not self.button[1])
        time.sleep(0.5)
        self.open_door()
        time.sleep(2.0)
        self.close_door()


def odd_push(cam: LprCameraSim, rng: random.Random, n: int) -> None:
    """What real cameras send now and then: GBK bodies, broken JSON, a huge image, junk as a plate, and a burst of
    records stored while the camera could not reach us, replayed twice and out of order."""
    kind = n % 5
    if kind == 0:
        cam.push(rng.choice(SIM_RESIDENTS), encoding="gbk")
    elif kind == 1:
        cam.send(b'{"AlarmInfoPlate": {"result": {"PlateResult": {"license": "\xe6')
    elif kind == 2:
        huge = b"\xff\xd8\xff" + bytes(rng.getrandbits(8) for _ in range(4096)) * 400  # 1.6 MB
        cam.push(rng.choice(SIM_RESIDENTS), image=huge)
    elif kind == 3:
        cam.push(rng.choice(["<script>alert(1)</script>", "沪A1234'; --", "沪A\u202e12345", "沪A123456789"]))
    else:
        t0 = datetime.now(UTC) - timedelta(minutes=30)
        for i in range(3):
            cam.store_offline(f"沪{rng.choice('ABCDEFGH')}{rng.randint(10000, 99999)}", t0 + timedelta(minutes=i),
                              plate_id=rng.randint(10**6, 10**7))
        cam.replay_offline(duplicates=2)
        cam._offline.clear()


def run_world(agent: Any, stop: threading.Event, every_s: float = 6.0, seed: int = 1) -> None:
    """The demo's compound: residents, visitors, temporary cars, the odd unreadable plate and broken push."""
    app = agent.app
    rng = random.Random(seed)
    # Lists come from the server through the list sync (the demo enters them there); only a gate that has none
    # after a while (running without a server) gets the simulated compound's lists locally.
    waited = 0.0
    while app.store.version == 0 and not app.store.counts() and waited < 15.0 and not stop.wait(0.5):
        waited += 0.5
    if app.store.version == 0 and not app.store.counts():
        now = datetime.now(UTC)
        app.store.upsert_entries(
            [ListEntry(list="resident", key=p, plate=p, valid_from=now - timedelta(days=30),
                       valid_to=now + timedelta(days=335), label=f"{i + 1}号楼") for i, p in enumerate(SIM_RESIDENTS)]
            + [ListEntry(list="blacklist", key=p, plate=p, label="欠费") for p in SIM_BLACKLIST])
    board = PinBoard()
    door = DoorSim(board, agent.cfg.hal, app.cfg) if app.cfg.door is not None else None
    lanes = {n: CarSim(board, lane_pins(agent.cfg.hal, app.cfg, n)) for n in app.cfg.lanes
             if app.cfg.lanes[n].source == "lpr_push"}
    if app.lpr is None or not lanes:
        while door is not None and not stop.wait(every_s):
            door.walk_out()
        return
    cams = {n: LprCameraSim(app.lpr.url, app.cfg.lanes[n].lpr_serial or "sim-cam-1", token=app.lpr.token)
            for n in lanes}
    inside: list[str] = []
    n = 0
    try:
        while not stop.wait(every_s):
            n += 1
            if n % 4 == 0:
                lane = rng.choice(list(cams))
                try:
                    odd_push(cams[lane], rng, n // 4)
                except httpx.HTTPError:
                    pass
                if agent.app.lanes[lane].pending is not None and agent.app.lanes[lane].pending.kind == "guard":
                    continue  # the guard (the demo's visitor on the local page) decides
            if door is not None and rng.random() < 0.3:
                door.walk_out()
            entry = [n for n in lanes if app.cfg.lanes[n].direction == "entry"]
            exit_ = [n for n in lanes if app.cfg.lanes[n].direction == "exit"]
            if inside and exit_ and rng.random() < 0.45:
                lane, plate = rng.choice(exit_), inside.pop(rng.randrange(len(inside)))
            elif entry:
                lane = rng.choice(entry)
                r = rng.random()
                if r < 0.45:
                    plate = rng.choice(SIM_RESIDENTS)
                elif r < 0.85:
                    plate = f"沪{rng.choice('ABCDEFGHJKLMN')}{rng.randint(10000, 99999)}"
                elif r < 0.92:
                    plate = "_无_"
                else:
                    plate = rng.choice(SIM_BLACKLIST)
            else:
                continue
            car = lanes[lane]
            before = car.pulses()
            try:
                cams[lane].push(plate, colour=5 if len(plate) == 8 else 1, image=plate_jpeg(plate))
            except httpx.HTTPError:
                continue
            if car.wait_open(before, 3.0):
                time.sleep(0.5)
                car.drive_through(1.0)
                if app.cfg.lanes[lane].direction == "entry" and plate != "_无_":
                    inside.append(plate)
    finally:
        for c in cams.values():
            c.close()


def start_sim(agent: Any, stop: threading.Event, every_s: float = 6.0) -> threading.Thread:
    """``linli agent --sim``: cars come and go at the gate every few seconds."""
    t = threading.Thread(target=run_world, args=(agent, stop, every_s), name="gate-sim", daemon=True)
    t.start()
    return t
