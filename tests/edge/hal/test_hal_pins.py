from __future__ import annotations

import logging
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.hal import pins
from edge.hal.errors import PinError
from edge.hal.pins import is_raspberry_pi, setup_pin_factory


def test_mock_is_idempotent(mock_factory: MockFactory) -> None:
    assert setup_pin_factory("mock") == "mock"
    assert setup_pin_factory("mock") == "mock"
    assert Device.pin_factory is mock_factory


def test_auto_keeps_the_factory_in_place(mock_factory: MockFactory) -> None:
    assert setup_pin_factory("auto") == "mock"
    assert Device.pin_factory is mock_factory


def test_auto_off_pi_uses_mock_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY")
    monkeypatch.setattr(pins, "is_raspberry_pi", lambda: False)
    Device.pin_factory.close()
    Device.pin_factory = None
    with caplog.at_level(logging.WARNING, logger="edge.hal.pins"):
        assert setup_pin_factory("auto") == "mock"
        first = Device.pin_factory
        assert setup_pin_factory("auto") == "mock"
    assert isinstance(first, MockFactory) and Device.pin_factory is first
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_auto_respects_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pins, "is_raspberry_pi", lambda: False)
    Device.pin_factory.close()
    Device.pin_factory = None
    assert setup_pin_factory("auto") == "mock"  # GPIOZERO_PIN_FACTORY=mock from the conftest


def test_unknown_or_unavailable_factory_is_a_clear_error(mock_factory: MockFactory) -> None:
    with pytest.raises(PinError, match="unknown pin factory 'gpio'"):
        setup_pin_factory("gpio")
    if not is_raspberry_pi():
        with pytest.raises(PinError, match="pin factory 'lgpio' cannot be used"):
            setup_pin_factory("lgpio")
    assert Device.pin_factory is mock_factory  # a failed switch leaves the factory alone


def test_is_raspberry_pi_reads_the_device_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    monkeypatch.setattr(pins, "_MODEL_FILES", (str(tmp_path / "missing"), str(model)))
    assert is_raspberry_pi() is True
    model.write_bytes(b"QEMU Virtual Machine\x00")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n")
    monkeypatch.setattr(pins, "_CPUINFO", str(cpuinfo))
    assert is_raspberry_pi() is False
    cpuinfo.write_text("Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")
    assert is_raspberry_pi() is True
