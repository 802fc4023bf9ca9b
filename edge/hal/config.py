"""Configuration of the hardware-access layer: one pydantic model per kind of part.

Every field has a title and a description (they go into the exported JSON schema and the local page),
and unknown keys are refused (``extra="forbid"``) so that a typo in a device YAML is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

PinId = int | str

_BCM_NAME = re.compile(r"^(?:GPIO|BCM)(\d+)$", re.IGNORECASE)


class _HalModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RelayConfig(_HalModel):
    """A relay (or any on/off output) driven by one GPIO pin. It starts off and drops off on close."""

    pin: PinId = Field(
        title="Pin",
        description="GPIO pin driving the relay: a BCM number (17) or a gpiozero pin name ('GPIO17', 'BOARD11').",
    )
    active_high: bool = Field(
        True,
        title="Active high",
        description="True when a high pin level energises the relay; False for active-low relay boards.",
    )
    readback_pin: PinId | None = Field(
        None,
        title="Read-back pin",
        description="Optional input wired to an auxiliary contact of the relay, to check that it really switched.",
    )
    readback_active_high: bool = Field(
        True,
        title="Read-back active high",
        description=(
            "True: the read-back pin is pulled down and reads high when the relay is closed. "
            "False: it is pulled up and the contact pulls it low when closed."
        ),
    )
    description: str = Field("", title="Description", description="What the relay switches (free text).")


class InputConfig(_HalModel):
    """A digital input (door contact, ground loop, photo-eye, smoke detector, button)."""

    pin: PinId = Field(
        title="Pin",
        description="GPIO pin of the input: a BCM number (27) or a gpiozero pin name ('GPIO27', 'BOARD13').",
    )
    pull_up: bool | None = Field(
        True,
        title="Pull-up",
        description=(
            "True: internal pull-up (contact to ground, active low by default). False: internal pull-down "
            "(active high by default). None: no internal resistor (external one); active_state is then required."
        ),
    )
    active_state: bool | None = Field(
        None,
        title="Active state",
        description=(
            "Pin level that means 'active' (True = high). Leave empty for the default that follows pull_up; "
            "set it e.g. for a normally-closed contact to ground with pull-up (active when the pin goes high)."
        ),
    )
    bounce_ms: int = Field(
        20,
        ge=0,
        le=10_000,
        title="Debounce (ms)",
        description="Changes faster than this are ignored by the pin driver; 0 turns debouncing off.",
    )
    description: str = Field("", title="Description", description="What the input senses (free text).")

    @model_validator(mode="after")
    def _floating_needs_active_state(self) -> Self:
        if self.pull_up is None and self.active_state is None:
            raise ValueError("pull_up is None (no internal resistor): set active_state to true or false")
        return self


class CameraConfig(_HalModel):
    """A camera or video source read through OpenCV."""

    source: int | str = Field(
        title="Source",
        description="Device index (0 = /dev/video0), an rtsp:// or http(s):// URL, or a video file path.",
    )
    fps: float = Field(
        5.0,
        gt=0,
        le=120,
        title="Frames per second",
        description="Rate at which frames are delivered (at most). A video file plays at its own frame rate and "
        "timestamps, sampled down to this rate when it has more.",
    )
    file_speed: Literal["realtime", "fast"] = Field(
        "realtime",
        title="File playback speed",
        description="realtime: a video file plays as it was recorded (a 10 s clip takes 10 s). fast: as fast as the "
        "reader takes the frames, none dropped; each frame's timestamp is then the file's own (replay, benchmarks).",
    )
    width: int | None = Field(
        None, gt=0, title="Width", description="Frame width in pixels; frames are scaled when the source differs."
    )
    height: int | None = Field(
        None, gt=0, title="Height", description="Frame height in pixels; frames are scaled when the source differs."
    )
    loop: bool = Field(
        False,
        title="Loop",
        description="Restart a video file at its end instead of reporting end-of-file (simulation).",
    )
    read_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        title="Read timeout (s)",
        description="read() gives up with an error when no new frame arrived within this time.",
    )
    open_timeout_s: float = Field(
        10.0,
        gt=0,
        le=120,
        title="Open timeout (s)",
        description="open() gives up with an error when the source could not be opened within this time.",
    )


class SerialConfig(_HalModel):
    """A serial port (RS-485 meter bus, charging-pile MCU link...) opened through pyserial."""

    url: str = Field(
        min_length=1,
        title="Port URL",
        description="Device path (/dev/ttyUSB0, /dev/ttyAMA0, /dev/pts/N) or pyserial URL (loop://, rfc2217://host:port).",
    )
    baudrate: int = Field(9600, gt=0, title="Baud rate", description="Line speed in bit/s.")
    bytesize: Literal[5, 6, 7, 8] = Field(8, title="Data bits", description="Data bits per character.")
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N", title="Parity", description="N none, E even, O odd, M mark, S space (DL/T 645 meters use E)."
    )
    stopbits: Literal[1, 1.5, 2] = Field(1, title="Stop bits", description="Stop bits per character.")
    timeout_s: float = Field(
        0.2, gt=0, le=60, title="Read timeout (s)", description="How long read() waits for the requested bytes."
    )


class SpeakerConfig(_HalModel):
    """The voice prompt output."""

    backend: Literal["auto", "espeak", "wav", "record"] = Field(
        "auto",
        title="Backend",
        description=(
            "auto: espeak if espeak-ng is installed, else record. espeak: synthesise with espeak-ng and play "
            "through aplay when a sound card exists, else write WAV files to wav_dir. wav: synthesise into "
            "WAV files in wav_dir, never play (headless simulation). record: only record what would be said."
        ),
    )
    voice: str = Field("cmn", min_length=1, title="Chinese voice", description="espeak-ng voice used for lang 'zh'.")
    rate_wpm: int = Field(150, ge=40, le=500, title="Rate (wpm)", description="Speaking rate in words per minute.")
    volume_pct: int = Field(
        100, ge=0, le=200, title="Volume (%)", description="espeak-ng amplitude in percent of normal (100), up to 200."
    )
    audio_device: str | None = Field(
        None, title="Audio device", description="ALSA device for aplay -D (e.g. 'plughw:1,0'); empty = default."
    )
    wav_dir: str | None = Field(
        None, title="WAV directory", description="Where synthesised WAV files go when they are not played."
    )

    @model_validator(mode="after")
    def _wav_needs_dir(self) -> Self:
        if self.backend == "wav" and not self.wav_dir:
            raise ValueError("backend 'wav' needs wav_dir (the folder the WAV files are written to)")
        return self


def _pin_key(pin: PinId) -> str:
    """A comparable spelling of a pin for duplicate checks (17, '17', 'GPIO17' and 'BCM17' are the same)."""
    if isinstance(pin, int):
        return f"GPIO{pin}"
    text = pin.strip()
    if text.isdigit():
        return f"GPIO{int(text)}"
    m = _BCM_NAME.match(text)
    return f"GPIO{int(m.group(1))}" if m else text.upper()


class HalConfig(_HalModel):
    """All the hardware of one device."""

    pin_factory: Literal["auto", "mock", "lgpio", "rpigpio", "native"] = Field(
        "auto",
        title="Pin factory",
        description="gpiozero backend. auto: the real one on a Raspberry Pi, the mock one elsewhere (simulation).",
    )
    relays: dict[str, RelayConfig] = Field(
        default_factory=dict, title="Relays", description="Outputs by name (e.g. door_hold, barrier_open)."
    )
    inputs: dict[str, InputConfig] = Field(
        default_factory=dict, title="Inputs", description="Digital inputs by name (e.g. door_open, loop)."
    )
    cameras: dict[str, CameraConfig] = Field(
        default_factory=dict, title="Cameras", description="Cameras by name (e.g. car)."
    )
    serial: dict[str, SerialConfig] = Field(
        default_factory=dict, title="Serial ports", description="Serial ports by name (e.g. meter_bus, mcu)."
    )
    speaker: SpeakerConfig = Field(default_factory=SpeakerConfig, title="Speaker", description="Voice prompt output.")

    @model_validator(mode="after")
    def _pins_used_once(self) -> Self:
        users: dict[str, str] = {}
        parts: list[tuple[str, PinId]] = []
        for name, relay in self.relays.items():
            parts.append((f"relay '{name}'", relay.pin))
            if relay.readback_pin is not None:
                parts.append((f"relay '{name}' read-back", relay.readback_pin))
        parts += [(f"input '{name}'", inp.pin) for name, inp in self.inputs.items()]
        for who, pin in parts:
            key = _pin_key(pin)
            if key in users:
                raise ValueError(f"pin {pin!r} is used by both {users[key]} and {who}")
            users[key] = who
        return self
