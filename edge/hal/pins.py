"""Choosing gpiozero's pin factory: the real driver on a Raspberry Pi, the mock one everywhere else."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.hal.errors import PinError

log = logging.getLogger(__name__)

#: gpiozero entry points of the factories a HalConfig may name.
_FACTORIES = {
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
    "native": ("gpiozero.pins.native", "NativeFactory"),
}
_MODEL_FILES = ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model")
_CPUINFO = "/proc/cpuinfo"
_lock = threading.Lock()


def is_raspberry_pi() -> bool:
    """True when this machine's device tree (or /proc/cpuinfo) says it is a Raspberry Pi."""
    for path in _MODEL_FILES:
        try:
            if "raspberry pi" in Path(path).read_bytes().decode("ascii", "replace").lower():
                return True
        except OSError:
            continue
    try:
        cpuinfo = Path(_CPUINFO).read_text(errors="replace")
    except OSError:
        return False
    return any(line.lower().startswith("model") and "raspberry pi" in line.lower() for line in cpuinfo.splitlines())


def factory_name(factory: object | None) -> str:
    """Short name of a gpiozero pin factory instance ("mock", "lgpio", ...), or "none"."""
    if factory is None:
        return "none"
    if isinstance(factory, MockFactory):
        return "mock"
    cls = type(factory).__name__
    for name, (_mod, cls_name) in _FACTORIES.items():
        if cls == cls_name:
            return name
    return cls


def _load(name: str) -> object:
    if name == "mock":
        return MockFactory()
    mod_name, cls_name = _FACTORIES[name]
    try:
        module = __import__(mod_name, fromlist=[cls_name])
        return getattr(module, cls_name)()
    except Exception as e:  # the drivers raise anything from ImportError to OSError off a Pi
        raise PinError(f"pin factory '{name}' cannot be used on this machine: {e}") from e


def setup_pin_factory(mode: str = "auto") -> str:
    """Set ``gpiozero.Device.pin_factory`` for ``mode`` and return the name of the factory in use.

    ``auto`` keeps a factory that is already set; otherwise it honours ``GPIOZERO_PIN_FACTORY``, picks
    gpiozero's default driver on a Raspberry Pi and the MockFactory elsewhere (with one WARNING).
    A named mode replaces a different factory already in place. Calling it again changes nothing.
    """
    if mode != "auto" and mode != "mock" and mode not in _FACTORIES:
        raise PinError(f"unknown pin factory '{mode}' (allowed: auto, mock, {', '.join(_FACTORIES)})")
    with _lock:
        current = Device.pin_factory
        if mode == "auto":
            if current is not None:
                return factory_name(current)
            if os.environ.get("GPIOZERO_PIN_FACTORY") or is_raspberry_pi():
                try:
                    Device.ensure_pin_factory()
                except Exception as e:
                    raise PinError(f"no usable GPIO pin factory: {e}") from e
            else:
                log.warning("not a Raspberry Pi: GPIO pins are simulated (gpiozero MockFactory)")
                Device.pin_factory = MockFactory()
            return factory_name(Device.pin_factory)
        if factory_name(current) == mode:
            return mode
        new = _load(mode)
        if current is not None:
            log.info("replacing pin factory %s with %s", factory_name(current), mode)
            current.close()
        Device.pin_factory = new
        return mode
