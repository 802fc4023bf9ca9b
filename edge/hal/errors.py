"""Errors raised by the hardware-access layer. Every message names the part (relay 'door', camera 'car')."""

from __future__ import annotations


class HalError(RuntimeError):
    """A part of the hardware could not be set up or used."""


class PinError(HalError):
    """A GPIO pin is invalid, already in use, or the pin driver refused it."""
