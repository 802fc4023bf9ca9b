"""HAL tests run on gpiozero's MockFactory, reset between tests so that every test claims fresh pins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.hal.sim import PinBoard


@pytest.fixture(autouse=True)
def mock_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockFactory]:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    if not isinstance(Device.pin_factory, MockFactory):
        if Device.pin_factory is not None:
            Device.pin_factory.close()
        Device.pin_factory = MockFactory()
    factory = Device.pin_factory
    factory.reset()
    yield factory
    if isinstance(Device.pin_factory, MockFactory):
        Device.pin_factory.reset()


@pytest.fixture
def board(mock_factory: MockFactory) -> PinBoard:
    return PinBoard(mock_factory)
