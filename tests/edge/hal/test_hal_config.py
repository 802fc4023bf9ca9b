from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from edge.hal.config import CameraConfig, HalConfig, InputConfig, SerialConfig, SpeakerConfig

YAML = """
pin_factory: mock
relays:
  door_hold: {pin: 17, active_high: false, readback_pin: GPIO22, description: lift door hold contact}
inputs:
  door_open: {pin: 27, bounce_ms: 30}
  smoke: {pin: BOARD13, pull_up: null, active_state: true}
cameras:
  car: {source: rtsp://admin:pw@10.0.0.9/h264, fps: 5}
  sim: {source: 0}
serial:
  meter_bus: {url: /dev/ttyUSB0, baudrate: 2400, parity: E, stopbits: 1}
speaker: {backend: record}
"""


def test_yaml_document_loads_with_types_kept() -> None:
    cfg = HalConfig.model_validate(yaml.safe_load(YAML))
    assert cfg.relays["door_hold"].pin == 17
    assert cfg.relays["door_hold"].readback_pin == "GPIO22"
    assert cfg.inputs["smoke"].pull_up is None
    assert cfg.cameras["sim"].source == 0 and isinstance(cfg.cameras["sim"].source, int)
    assert cfg.serial["meter_bus"].parity == "E"
    assert cfg.speaker.backend == "record"


def test_defaults() -> None:
    cfg = HalConfig()
    assert cfg.pin_factory == "auto" and cfg.relays == {} and cfg.speaker.voice == "cmn"
    assert SerialConfig(url="loop://").timeout_s == 0.2
    assert CameraConfig(source="x.mp4").read_timeout_s == 2.0


@pytest.mark.parametrize(
    ("model", "data", "where"),
    [
        (HalConfig, {"relays": {"a": {"pin": 17, "activ_high": True}}}, "activ_high"),
        (HalConfig, {"pin_factory": "pigpiod"}, "pin_factory"),
        (SerialConfig, {"url": "loop://", "parity": "X"}, "parity"),
        (SerialConfig, {"url": "loop://", "bytesize": 9}, "bytesize"),
        (CameraConfig, {"source": "a.mp4", "fps": 0}, "fps"),
        (SpeakerConfig, {"backend": "wav"}, "wav_dir"),
        (InputConfig, {"pin": 4, "pull_up": None}, "active_state"),
    ],
)
def test_bad_values_name_the_key(model: Any, data: dict, where: str) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    assert where in str(exc.value)


def test_same_pin_twice_is_refused_whatever_its_spelling() -> None:
    with pytest.raises(ValidationError) as exc:
        HalConfig(relays={"gate": {"pin": 17}}, inputs={"loop": {"pin": "GPIO17"}})
    assert "relay 'gate'" in str(exc.value) and "input 'loop'" in str(exc.value)
    with pytest.raises(ValidationError, match="read-back"):
        HalConfig(relays={"a": {"pin": 5, "readback_pin": 6}, "b": {"pin": "BCM6"}})


def _walk(schema: dict, defs: dict, seen: set[str]) -> list[tuple[str, dict]]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        out.append((name, prop))
    for ref_name, sub in defs.items():
        if ref_name not in seen:
            seen.add(ref_name)
            out += _walk(sub, {}, seen)
    return out


def test_every_field_has_title_and_description() -> None:
    schema = HalConfig.model_json_schema()
    fields = _walk(schema, schema.get("$defs", {}), set())
    assert len(fields) > 30
    for name, prop in fields:
        assert prop.get("title") and prop.get("description"), name
