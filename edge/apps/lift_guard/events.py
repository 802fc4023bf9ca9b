"""The lift guard's event payloads (``Event.data``), validated by the agent when it emits them and by the server
when it ingests them. Types:

=====================  ========  ==========================================================================
type                   severity  data
=====================  ========  ==========================================================================
``lift.block``         warning   :class:`BlockStarted` — the door is held; snapshot blob attached
``lift.release``       info /    :class:`BlockEnded` — the door is let go, why, after how long. ``alarm`` when
                       alarm     the longest hold ran out (a work order)
``lift.suppress``      warning   :class:`Suppressed` — blocking paused by staff (remote or local), until when
``lift.resume``        info      :class:`Resumed` — blocking back on (pause over, or ended by command)
``lift.fault``         alarm     :class:`Fault` — camera lost / black / covered / frozen, detector, relay
``lift.fault_cleared`` info      :class:`FaultCleared`
=====================  ========  ==========================================================================
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

BLOCK = "lift.block"
RELEASE = "lift.release"
SUPPRESS = "lift.suppress"
RESUME = "lift.resume"
FAULT = "lift.fault"
FAULT_CLEARED = "lift.fault_cleared"

ReleaseReason = Literal["cleared", "door_closed", "max_hold", "remote", "local", "fault", "schedule", "inhibit",
                        "shutdown"]
FaultKind = Literal["camera_lost", "black", "covered", "frozen", "detector", "relay_mismatch"]
Score = Annotated[float, Field(ge=0, le=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeenObject(_Data):
    cls: str = Field(max_length=32, description="lift class after the class map")
    label: str = Field(max_length=64, description="the model's label")
    score: Score
    box: tuple[Fraction, Fraction, Fraction, Fraction] = Field(description="x1, y1, x2, y2 as fractions of the frame")
    track: int | None = Field(None, ge=0)


class BlockStarted(_Data):
    block_id: str = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="ULID shared by the block's events")
    cls: str = Field(max_length=32, description="the class that blocks (ebike, battery…)")
    label: str = Field(max_length=64)
    score: Score = Field(description="score of the confirming frame")
    scores: list[Score] = Field(max_length=100, description="the object's scores in the confirmation window")
    track_s: float = Field(ge=0, description="how long the object had been seen when the door was held")
    latency_ms: float = Field(ge=0, description="capture of the first frame in which the object stood on the car "
                              "floor → relay energised (accumulated evidence included)")
    seen_ms: float = Field(ge=0, description="capture of the first frame the object was detected in at all (any "
                           "score, e.g. still on the landing) → relay energised")
    objects: list[SeenObject] = Field(max_length=50, description="everything seen in the confirming frame")
    model: str = Field(max_length=200)
    relay: bool = Field(description="whether the hold relay was energised")


class BlockEnded(_Data):
    block_id: str = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    reason: ReleaseReason
    hold_s: float = Field(ge=0, description="how long the door was held")
    cls: str = Field(max_length=32)
    best_score: Score
    by: str | None = Field(None, max_length=64, description="who released it (remote/local releases)")
    note: str | None = Field(None, max_length=200)
    fault: Literal["max_hold"] | None = Field(
        None, description="set on a longest-hold release (an alarm): the work order's fault key")


class Suppressed(_Data):
    by: str = Field(max_length=64)
    origin: Literal["mqtt", "local", "max_hold"]
    until: AwareDatetime
    minutes: float = Field(gt=0)
    reason: str | None = Field(None, max_length=200)
    released_block: str | None = Field(None, description="block_id released by this pause, if one was on")


class Resumed(_Data):
    why: Literal["expired", "command", "clear"]
    by: str | None = Field(None, max_length=64)


class Fault(_Data):
    fault: FaultKind
    detail: str = Field(max_length=500)
    relay_released: bool
    luma: float | None = None
    contrast: float | None = None


class FaultCleared(_Data):
    fault: FaultKind
    duration_s: float = Field(ge=0)


DATA_MODELS: dict[str, type[_Data]] = {
    BLOCK: BlockStarted,
    RELEASE: BlockEnded,
    SUPPRESS: Suppressed,
    RESUME: Resumed,
    FAULT: Fault,
    FAULT_CLEARED: FaultCleared,
}
SEVERITY: dict[str, Literal["info", "warning", "alarm"]] = {
    BLOCK: "warning", RELEASE: "info", SUPPRESS: "warning", RESUME: "info", FAULT: "alarm", FAULT_CLEARED: "info",
}


def parse(event_type: str, data: dict[str, object]) -> _Data:
    """Validate ``data`` of a lift event; raises ValueError (pydantic's) naming the field."""
    model = DATA_MODELS.get(event_type)
    if model is None:
        raise ValueError(f"unknown lift event type {event_type!r}")
    return model.model_validate(data)
