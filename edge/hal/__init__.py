"""Hardware access: the only way linli reaches pins, cameras, serial ports and the speaker.

A simulator drives only the outside of this boundary (``edge.hal.sim``), so the agent runs the very
code it runs on a Raspberry Pi.
"""

from edge.hal.camera import Camera, CameraError, Frame
from edge.hal.config import CameraConfig, HalConfig, InputConfig, RelayConfig, SerialConfig, SpeakerConfig
from edge.hal.errors import HalError, PinError
from edge.hal.hal import Hal
from edge.hal.pins import is_raspberry_pi, setup_pin_factory
from edge.hal.relay import Input, Relay
from edge.hal.serialport import SerialPort, SerialPortError
from edge.hal.speaker import Speaker, SpokenItem

__all__ = [
    "Camera",
    "CameraConfig",
    "CameraError",
    "Frame",
    "Hal",
    "HalConfig",
    "HalError",
    "Input",
    "InputConfig",
    "PinError",
    "Relay",
    "RelayConfig",
    "SerialConfig",
    "SerialPort",
    "SerialPortError",
    "Speaker",
    "SpeakerConfig",
    "SpokenItem",
    "is_raspberry_pi",
    "setup_pin_factory",
]
