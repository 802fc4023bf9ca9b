from __future__ import annotations

from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import ValidationError

from edge.hal import Hal, HalConfig, PinError
from edge.hal.sim import PinBoard, make_scene_video


def _config(tmp_path: Path) -> HalConfig:
    video = make_scene_video(str(tmp_path / "lift.mp4"), frames=3, fps=5, size=(64, 48))
    return HalConfig.model_validate(
        {
            "pin_factory": "mock",
            "relays": {
                "door_hold": {"pin": 17, "active_high": False, "readback_pin": 22},
                "alarm": {"pin": 23},
            },
            "inputs": {"door_open": {"pin": 27}},
            "cameras": {"car": {"source": video, "fps": 50}},
            "serial": {"mcu": {"url": "loop://"}},
            "speaker": {"backend": "record"},
        }
    )


def test_builds_every_part_with_relays_off(tmp_path: Path, board: PinBoard, mock_factory: MockFactory) -> None:
    hal = Hal(_config(tmp_path))
    assert hal.pin_factory == "mock"
    assert set(hal.relays) == {"door_hold", "alarm"} and set(hal.inputs) == {"door_open"}
    assert board.output_level(17) is True and board.output_level(23) is False  # both relays off
    assert not hal.cameras["car"].is_open and not hal.serial["mcu"].is_open  # opened by their users
    hal.relays["alarm"].on()
    board.set_input(27, False)
    hal.serial["mcu"].write(b"hi")
    snap = hal.snapshot()
    assert snap["pin_factory"] == "mock"
    assert snap["relays"]["alarm"] == {"name": "alarm", "pin": 23, "on": True, "readback": None}
    assert snap["relays"]["door_hold"]["readback"] is False
    assert snap["inputs"]["door_open"]["active"] is True
    assert snap["serial"]["mcu"]["bytes_out"] == 2 and snap["cameras"]["car"]["open"] is False
    assert snap["speaker"]["backend"] == "record"
    hal.close()


def test_all_relays_safe_never_raises(tmp_path: Path, board: PinBoard, monkeypatch: pytest.MonkeyPatch) -> None:
    hal = Hal(_config(tmp_path))
    for r in hal.relays.values():
        r.on()

    def broken() -> None:
        raise RuntimeError("driver gone")

    monkeypatch.setattr(hal.relays["door_hold"], "off", broken)
    hal.all_relays_safe()
    assert board.output_level(23) is False and not hal.relays["alarm"].is_on
    monkeypatch.undo()
    hal.close()


def test_close_drops_relays_before_anything_else(tmp_path: Path, board: PinBoard) -> None:
    hal = Hal(_config(tmp_path))
    hal.relays["door_hold"].on()
    hal.relays["alarm"].pulse(5)
    cam = hal.cameras["car"]
    cam.open()
    cam.read()
    levels_seen: list[tuple[bool, bool]] = []
    real_close = cam.close

    def close_and_look() -> None:
        levels_seen.append((board.output_level(17), board.output_level(23)))
        real_close()

    cam.close = close_and_look  # type: ignore[method-assign]
    hal.close()
    hal.close()
    assert levels_seen == [(True, False)]  # door_hold (active low) released and alarm off when the camera closed
    assert not cam.is_open and not hal.serial["mcu"].is_open
    assert hal.speaker.history == []
    Hal(_config(tmp_path)).close()  # every pin was released


def test_a_bad_part_names_itself_and_releases_the_rest(tmp_path: Path, board: PinBoard) -> None:
    cfg = _config(tmp_path)
    cfg.inputs["loop"] = cfg.inputs["door_open"].model_copy(update={"pin": 99})
    with pytest.raises(PinError, match="input 'loop': cannot use pin 99"):
        Hal(cfg)
    assert board.output_level(17) is True  # door_hold left in its safe (off) state
    Hal(_config(tmp_path)).close()  # the relays built before the failure gave their pins back


def test_duplicate_pins_are_refused_by_the_config() -> None:
    with pytest.raises(ValidationError, match="pin 17 is used by both relay 'a' and input 'b'"):
        HalConfig.model_validate({"relays": {"a": {"pin": 17}}, "inputs": {"b": {"pin": 17}}})
