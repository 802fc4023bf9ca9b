"""All the hardware of one device, built from its HalConfig."""

from __future__ import annotations

import logging
from typing import Any

from gpiozero import Device

from edge.hal.camera import Camera
from edge.hal.config import HalConfig
from edge.hal.pins import factory_name, setup_pin_factory
from edge.hal.relay import Input, Relay
from edge.hal.serialport import SerialPort
from edge.hal.speaker import Speaker

log = logging.getLogger(__name__)


class Hal:
    """Relays, inputs, cameras, serial ports and the speaker of one device.

    Relays and inputs claim their pins here (relays start off); cameras and serial ports are opened by
    the code that uses them. If one part cannot be built, what was built is closed again and the error
    (naming the part) propagates.
    """

    def __init__(self, cfg: HalConfig) -> None:
        self.cfg = cfg
        self.pin_factory = setup_pin_factory(cfg.pin_factory)
        self.relays: dict[str, Relay] = {}
        self.inputs: dict[str, Input] = {}
        self.cameras: dict[str, Camera] = {name: Camera(name, c) for name, c in cfg.cameras.items()}
        self.serial: dict[str, SerialPort] = {name: SerialPort(name, c) for name, c in cfg.serial.items()}
        self._closed = False
        try:
            for name, rc in cfg.relays.items():
                self.relays[name] = Relay(name, rc)
            for name, ic in cfg.inputs.items():
                self.inputs[name] = Input(name, ic)
            self.speaker = Speaker(cfg.speaker)
        except BaseException:
            self._close_pins()
            raise

    def all_relays_safe(self) -> None:
        """Every relay off. Never raises: used by the watchdog, fault handling and shutdown."""
        for name, relay in self.relays.items():
            try:
                relay.off()
            except Exception:
                log.exception("relay '%s': could not switch off", name)

    def _close_pins(self) -> None:
        for group in (self.relays, self.inputs):
            for name, part in group.items():
                try:
                    part.close()
                except Exception:
                    log.exception("closing '%s' failed", name)

    def close(self) -> None:
        """Relays off first, then cameras, serial ports, speaker, and the pins last. Safe to call twice."""
        self.all_relays_safe()
        if self._closed:
            return
        self._closed = True
        parts: list[Camera | SerialPort] = [*self.cameras.values(), *self.serial.values()]
        for part in parts:
            try:
                part.close()
            except Exception:
                log.exception("closing %r failed", part)
        try:
            self.speaker.close()
        except Exception:
            log.exception("closing the speaker failed")
        self._close_pins()

    def snapshot(self) -> dict[str, Any]:
        """IO states for the local page and telemetry."""
        return {
            "pin_factory": factory_name(Device.pin_factory),
            "relays": {n: r.snapshot() for n, r in self.relays.items()},
            "inputs": {n: i.snapshot() for n, i in self.inputs.items()},
            "cameras": {n: c.snapshot() for n, c in self.cameras.items()},
            "serial": {n: s.snapshot() for n, s in self.serial.items()},
            "speaker": self.speaker.snapshot(),
        }

    def __enter__(self) -> Hal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
