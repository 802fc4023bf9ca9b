from __future__ import annotations

import threading
import time

import pytest

from edge.hal.config import InputConfig, RelayConfig
from edge.hal.errors import HalError, PinError
from edge.hal.relay import Input, Relay
from edge.hal.sim import PinBoard


def test_relay_starts_off_and_switches_the_pin(board: PinBoard) -> None:
    r = Relay("barrier", RelayConfig(pin=17))
    assert not r.is_on and board.output_level(17) is False
    r.on()
    assert r.is_on and board.output_level(17) is True
    r.off()
    assert not r.is_on and board.output_level("GPIO17") is False
    assert [s.state for s in board.history(17)] == [False, True, False]


def test_active_low_relay_inverts_the_level(board: PinBoard) -> None:
    r = Relay("door_hold", RelayConfig(pin=18, active_high=False))
    assert board.output_level(18) is True  # idle = high on an active-low board: coil off
    r.on()
    assert board.output_level(18) is False
    r.close()
    assert not r.is_on


def test_pulse_is_non_blocking_and_ends_by_itself(board: PinBoard) -> None:
    r = Relay("barrier", RelayConfig(pin=17))
    t0 = time.monotonic()
    r.pulse(0.15)
    assert time.monotonic() - t0 < 0.05
    assert r.is_on and r.pulsing and board.output_level(17) is True
    time.sleep(0.3)
    assert not r.is_on and not r.pulsing and board.output_level(17) is False
    on_time = board.history(17)[2].timestamp  # seconds the pin stayed high
    assert 0.13 <= on_time <= 0.3


def test_a_new_pulse_extends_and_a_shorter_one_does_not_cut(board: PinBoard) -> None:
    r = Relay("barrier", RelayConfig(pin=17))
    r.pulse(0.15)
    time.sleep(0.1)
    r.pulse(0.15)  # now ends at ~0.25 s
    r.pulse(0.01)  # must not shorten it
    time.sleep(0.1)
    assert board.output_level(17) is True  # 0.2 s: the first pulse alone would have ended
    time.sleep(0.15)
    assert board.output_level(17) is False
    assert [s.state for s in board.history(17)] == [False, True, False]  # one continuous pulse


def test_on_and_off_cancel_a_running_pulse(board: PinBoard) -> None:
    r = Relay("gate", RelayConfig(pin=17))
    r.pulse(0.05)
    r.on()
    time.sleep(0.12)
    assert r.is_on and board.output_level(17) is True
    r.pulse(0.5)
    r.off()
    assert board.output_level(17) is False and not r.pulsing
    with pytest.raises(ValueError, match="relay 'gate'"):
        r.pulse(0)


def test_readback_and_mismatch(board: PinBoard) -> None:
    r = Relay("door_hold", RelayConfig(pin=17, readback_pin=22))
    assert r.readback() is False and not r.readback_mismatch()
    r.on()
    assert r.readback_mismatch()  # commanded on, contact still open (welded off / no power)
    board.set_input(22, True)
    assert r.readback() is True and not r.readback_mismatch()
    r.off()
    assert r.readback_mismatch()  # commanded off, contact still closed (welded on)
    assert r.snapshot() == {"name": "door_hold", "pin": 17, "on": False, "readback": True}


def test_readback_active_low(board: PinBoard) -> None:
    r = Relay("a", RelayConfig(pin=17, readback_pin=22, readback_active_high=False))
    assert r.readback() is False  # pulled up: high = contact open
    board.set_input(22, False)
    assert r.readback() is True


def test_relay_without_readback() -> None:
    r = Relay("a", RelayConfig(pin=5))
    r.on()
    assert r.readback() is None and r.readback_mismatch() is False


def test_close_drops_to_off_releases_pins_and_is_idempotent(board: PinBoard) -> None:
    r = Relay("gate", RelayConfig(pin=17, readback_pin=22))
    r.pulse(1.0)
    r.close()
    r.close()
    assert not r.is_on and board.output_level(17) is False and r.readback() is None
    r.off()  # off on a closed relay is fine: it is off
    with pytest.raises(HalError, match="relay 'gate' is closed"):
        r.on()
    with pytest.raises(HalError, match="closed"):
        r.pulse(0.1)
    Relay("again", RelayConfig(pin=17, readback_pin=22)).close()  # the pins were released


def test_wrong_or_busy_pin_names_the_part() -> None:
    with pytest.raises(PinError, match=r"relay 'lamp': cannot use pin 99"):
        Relay("lamp", RelayConfig(pin=99))
    with pytest.raises(PinError, match=r"input 'loop': cannot use pin 'GPIO_X'"):
        Input("loop", InputConfig(pin="GPIO_X"))
    first = Relay("first", RelayConfig(pin=17))  # kept referenced: gpiozero frees the pins of collected devices
    with pytest.raises(PinError, match="relay 'second'"):
        Relay("second", RelayConfig(pin="GPIO17"))
    with pytest.raises(PinError, match="relay 'third' read-back"):
        Relay("third", RelayConfig(pin=23, readback_pin=17))
    Relay("fourth", RelayConfig(pin=23)).close()  # the failed read-back did not keep pin 23
    assert first.snapshot()["on"] is False


def test_input_with_pull_up_is_active_low_and_calls_back(board: PinBoard) -> None:
    inp = Input("door_open", InputConfig(pin=27))
    seen: list[tuple[str, bool]] = []
    also: list[bool] = []
    inp.on_change(lambda name, active: seen.append((name, active)))
    inp.on_change(lambda name, active: 1 / 0)  # a broken callback must not stop the others
    inp.on_change(lambda name, active: also.append(active))
    assert inp.is_active is False  # pulled up, contact open
    board.set_input(27, False)
    assert inp.is_active is True
    board.set_input(27, True)
    assert seen == [("door_open", True), ("door_open", False)]
    assert also == [True, False]
    assert inp.snapshot() == {"name": "door_open", "pin": 27, "active": False}


def test_input_polarities(board: PinBoard) -> None:
    pull_down = Input("loop", InputConfig(pin=5, pull_up=False))
    nc_contact = Input("beam", InputConfig(pin=6, pull_up=True, active_state=True))
    floating = Input("smoke", InputConfig(pin=13, pull_up=None, active_state=False, bounce_ms=0))
    assert (pull_down.is_active, nc_contact.is_active) == (False, True)
    events: list[tuple[str, bool]] = []
    nc_contact.on_change(lambda n, a: events.append((n, a)))
    board.set_input(5, True)
    board.set_input(6, False)
    board.set_input(13, True)
    board.set_input(13, False)
    assert pull_down.is_active and not nc_contact.is_active and floating.is_active
    assert events == [("beam", False)]


def test_wait_for(board: PinBoard) -> None:
    inp = Input("door", InputConfig(pin=27))
    assert inp.wait_for(False, 0.01) is True  # already inactive
    assert inp.wait_for(True, 0.05) is False
    threading.Timer(0.05, board.set_input, (27, False)).start()
    t0 = time.monotonic()
    assert inp.wait_for(True, 2.0) is True
    assert time.monotonic() - t0 < 1.0
    nc = Input("beam", InputConfig(pin=6, pull_up=True, active_state=True))
    threading.Timer(0.05, board.set_input, (6, False)).start()
    assert nc.wait_for(False, 2.0) is True


def test_closed_input(board: PinBoard) -> None:
    inp = Input("door", InputConfig(pin=27))
    inp.close()
    inp.close()
    with pytest.raises(HalError, match="input 'door' is closed"):
        _ = inp.is_active
    assert inp.snapshot()["active"] is None
    Input("door2", InputConfig(pin=27)).close()
