"""The ``app:`` section of a probe."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edge.apps.base import InputName, RelayName


class ProbeConfig(BaseModel):
    """A commissioning probe: one input to watch, one relay to exercise."""

    model_config = ConfigDict(extra="forbid")

    button: InputName = Field("button", title="Button input",
                        description="Name of the input (in hal.inputs) whose changes are reported.")
    output: RelayName = Field("output", title="Output relay", description="Name of the relay (in hal.relays) to test.")
    pulse_max_s: float = Field(5.0, ge=0.1, le=5.0, title="Longest pulse (s)",
                               description="A pulse command asking for more is refused.")
    max_on_s: float = Field(60.0, ge=0.5, le=3600, title="Longest hold (s)",
                            description="An output switched on with `set` is switched off again after this long.")
    loop_interval_s: float = Field(0.2, ge=0.01, le=5.0, title="Loop interval (s)",
                                   description="How often the probe's loop runs (and kicks the watchdog).")


