"""The gate's typed payloads on the wire: ``Event.data`` of every gate/door event and the args of the commands the
server sends. The agent builds them, the server validates them (``parse_event_data``) before storing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from linli.contract import UtcDatetime

from .fees import Tariff

Direction = Literal["entry", "exit"]
Decision = Literal["open", "deny", "guard", "pay", "manual"]
Category = Literal["resident", "visitor", "temporary", "blacklist", "none", "unknown"]
Source = Literal["lpr_push", "camera", "manual", "card"]
ListName = Literal["resident", "visitor", "blacklist", "card"]
Short = Annotated[str, Field(max_length=64)]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
#: an LPR camera's ``plateid``: up to 2^64 - 1 or text, carried as text (agents before 2026-12 send a number)
CameraPlateId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool)
                                               else v), Field(max_length=40)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------------- events
class PassageData(_Model):
    """``gate.passage``: one vehicle at one lane, decided (repeated reads of it within the window are merged)."""

    lane: Short
    direction: Direction
    at: UtcDatetime = Field(description="when the vehicle was read (the camera's time for offline records)")
    plate: Annotated[str, Field(max_length=8)] = Field(description="normalised plate; empty = no/unreadable plate")
    colour: Short = "unknown"
    plate_kind: Short = "none"
    raw: Annotated[str, Field(max_length=40)] = Field("", description="what the reader sent, sanitised")
    problem: Annotated[str, Field(max_length=200)] | None = None
    source: Source
    confidence: float | None = Field(None, ge=0, le=1)
    decision: Decision
    reason: Code
    category: Category
    match: Literal["exact", "fuzzy", "none"] = "none"
    matched_plate: Annotated[str, Field(max_length=8)] | None = None
    label: Short | None = None
    session_id: Short | None = None
    entry_at: UtcDatetime | None = None
    fee_cents: int | None = Field(None, ge=0)
    paid_cents: int | None = Field(None, ge=0)
    opened: bool
    offline_replay: bool = False
    camera_plate_id: CameraPlateId | None = None
    clock_skew_s: float | None = None
    by: Short | None = None
    note: Annotated[str, Field(max_length=200)] | None = None


class PaymentData(_Model):
    """``gate.payment``: money taken for a parking session (cash at the booth, or an online payment applied)."""

    session_id: Short
    plate: Annotated[str, Field(max_length=8)]
    amount_cents: int = Field(ge=0)
    method: Literal["cash", "online", "waived"]
    payment_id: Short | None = None
    lane: Short | None = None
    by: Short | None = None
    at: UtcDatetime


class LaneAlarmData(_Model):
    """``gate.tailgating`` / ``gate.arm_fault`` / ``gate.loop_stuck``."""

    lane: Short
    at: UtcDatetime
    detail: Code
    vehicles: int | None = None
    authorised: int | None = None
    seconds: float | None = None


class ListsAppliedData(_Model):
    """``gate.lists.applied``: the device's cached lists moved to ``version``."""

    version: int = Field(ge=0)
    base_version: int | None = None
    entries: int = Field(ge=0)
    deleted: int = Field(ge=0)
    reset: bool = False


class DoorData(_Model):
    """``door.access`` / ``door.held_open`` / ``door.forced_open`` / ``door.fire``."""

    door: Short
    at: UtcDatetime
    method: Literal["card", "qr", "button", "remote", "fire", "none"] = "none"
    credential: Short | None = Field(None, description="masked card number or QR key id")
    granted: bool | None = None
    reason: Code
    label: Short | None = None
    seconds: float | None = None
    by: Short | None = None


EVENT_MODELS: dict[str, type[_Model]] = {
    "gate.passage": PassageData,
    "gate.payment": PaymentData,
    "gate.tailgating": LaneAlarmData,
    "gate.arm_fault": LaneAlarmData,
    "gate.loop_stuck": LaneAlarmData,
    "gate.lists.applied": ListsAppliedData,
    "door.access": DoorData,
    "door.held_open": DoorData,
    "door.forced_open": DoorData,
    "door.fire": DoorData,
}


class GateDataError(ValueError):
    pass


def parse_event_data(type: str, data: dict[str, Any]) -> _Model | None:
    """The typed data of a gate/door event (None for types without a model). Raises GateDataError."""
    model = EVENT_MODELS.get(type)
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(data)"
        raise GateDataError(f"{type}: {loc}: {first['msg']}") from None


# ------------------------------------------------------------------------------------------------ commands
class ListEntry(_Model):
    """One entry of the lists a gate caches. ``key``: the plate (resident, blacklist), the pass id (visitor) or the
    card number (card)."""

    list: ListName
    key: Annotated[str, Field(min_length=1, max_length=32)]
    plate: Annotated[str, Field(max_length=8)] | None = None
    valid_from: UtcDatetime | None = None
    valid_to: UtcDatetime | None = None
    label: Short = ""


class GateSettings(_Model):
    """Site-wide settings that travel with the lists."""

    tariff: Tariff = Field(default_factory=Tariff)
    capacity_temporary: int = Field(50, ge=0, le=100_000, description="spaces for temporary vehicles")
    qr_keys: dict[Annotated[str, Field(max_length=16)], Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict, max_length=8)


class ListsSyncArgs(_Model):
    """``lists_sync``: the changes after ``base_version`` up to ``version`` (``reset``: drop everything first)."""

    base_version: int = Field(ge=0)
    version: int = Field(ge=0)
    reset: bool = False
    upserts: list[ListEntry] = Field(default_factory=list, max_length=1000)
    deletes: list[tuple[ListName, Annotated[str, Field(max_length=32)]]] = Field(default_factory=list,
                                                                                 max_length=1000)
    settings: GateSettings | None = None


class SessionPaidArgs(_Model):
    """``session_paid``: an online payment for a parking session (the exit opens if the car is waiting)."""

    session_id: Short | None = None
    plate: Annotated[str, Field(max_length=8)] | None = None
    amount_cents: int = Field(ge=0)
    payment_id: Short
    method: Literal["online", "cash", "waived"] = "online"
