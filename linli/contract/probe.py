"""The ``probe`` kind: the minimal built-in kind (one input, one relay) used for commissioning and tests."""

from __future__ import annotations

from pydantic import Field

from .spec import PEOPLE, Args, CommandInfo, EventData, EventInfo, KindContract, Label
from .topics import Kind


class InputChanged(EventData):
    EVENT = EventInfo("probe.input", "info", "输入变化", "Input changed")
    input: str = Field(max_length=48)
    active: bool
    count: int = Field(ge=0, le=2**62)


class AutoOff(EventData):
    EVENT = EventInfo("probe.auto_off", "warning", "输出超时自动关闭", "Output switched off (held too long)",
                      units={"held_s": "s"})
    held_s: float = Field(ge=0, le=10**7)


EVENTS: tuple[type[EventData], ...] = (InputChanged, AutoOff)


class PulseArgs(Args):
    seconds: float = Field(0.5, ge=0.1, le=5.0, description="pulse length")


class SetArgs(Args):
    on: bool = Field(description="true = energise and hold (up to max_on_s), false = off")


PULSE_CMD = CommandInfo("pulse", PulseArgs, "脉冲输出", "Pulse the output", PEOPLE, local=True)
SET_CMD = CommandInfo("set", SetArgs, "设置输出", "Set the output", PEOPLE, local=True)
COMMANDS = (PULSE_CMD, SET_CMD)

STATES: dict[str, Label] = {
    "idle": Label("空闲", "Idle"),
    "output_on": Label("输出已接通", "Output on"),
}
GAUGES: dict[str, Label] = {
    "presses": Label("按下次数", "Presses"),
    "relay_on": Label("继电器接通", "Relay on"),
    "button_active": Label("按钮按下", "Button pressed"),
}

CONTRACT = KindContract(Kind.probe, EVENTS, COMMANDS, {}, STATES, GAUGES)
