"""The ``gate`` kind (barrier gates with plate recognition, and doors): typed payloads on the wire, commands and
human names. The agent builds the events, the server validates them with the same models before storing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from linli.gate.fees import Tariff

from .payloads import Severity, UtcDatetime
from .spec import (
    PEOPLE,
    SERVER_ONLY,
    Args,
    Audience,
    CommandInfo,
    EventData,
    EventInfo,
    KindContract,
    Label,
)
from .topics import Kind

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
class PassageData(EventData):
    """``gate.passage``: one vehicle at one lane, decided (repeated reads of it within the window are merged)."""

    EVENT = EventInfo("gate.passage", "info", "车辆通行", "Vehicle passage",
                      units={"confidence": "ratio", "fee_cents": "fen", "paid_cents": "fen", "clock_skew_s": "s"})
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
    fee_cents: int | None = Field(None, ge=0, le=10**9)
    paid_cents: int | None = Field(None, ge=0, le=10**9)
    opened: bool
    offline_replay: bool = False
    camera_plate_id: CameraPlateId | None = None
    # a camera clock reset to 1970 is about -1.8e9 s off: that is what this field is for (flagged, not used)
    clock_skew_s: float | None = Field(None, ge=-10**10, le=10**10)
    by: Short | None = None
    note: Annotated[str, Field(max_length=200)] | None = None

    def event_severity(self) -> Severity:
        if self.offline_replay:
            return "info"  # the camera decided it while we were away: a record, not news
        if self.reason == "blacklist":
            return "alarm"
        return "warning" if self.decision in ("deny", "guard", "manual") else "info"

    def event_audience(self) -> Audience:
        if self.offline_replay:
            return "record"
        return "guard" if self.reason == "blacklist" or self.category == "blacklist" else "record"


class PaymentData(EventData):
    """``gate.payment``: money taken for a parking session (cash at the booth, or an online payment applied)."""

    EVENT = EventInfo("gate.payment", "info", "停车缴费", "Parking payment", units={"amount_cents": "fen"})
    session_id: Short
    plate: Annotated[str, Field(max_length=8)]
    amount_cents: int = Field(ge=0, le=10**9)
    method: Literal["cash", "online", "waived"]
    payment_id: Short | None = None
    lane: Short | None = None
    by: Short | None = None
    at: UtcDatetime


class LaneAlarmData(EventData):
    """What ``gate.tailgating`` / ``gate.arm_fault`` / ``gate.loop_stuck`` carry."""

    lane: Short
    at: UtcDatetime
    detail: Code
    vehicles: int | None = Field(None, ge=0, le=10**6)
    authorised: int | None = Field(None, ge=0, le=10**6)
    seconds: float | None = Field(None, ge=0, le=10**7)


class Tailgating(LaneAlarmData):
    EVENT = EventInfo("gate.tailgating", "warning", "跟车闯闸", "Tailgating", units={"seconds": "s"},
                      audience="guard")


class ArmFault(LaneAlarmData):
    EVENT = EventInfo("gate.arm_fault", "alarm", "道闸故障", "Barrier arm fault", units={"seconds": "s"})


class LoopStuck(LaneAlarmData):
    EVENT = EventInfo("gate.loop_stuck", "warning", "地感长时间占用", "Loop occupied too long",
                      units={"seconds": "s"}, audience="maintenance")


LANE_ALARMS: dict[str, type[LaneAlarmData]] = {"tailgating": Tailgating, "arm_fault": ArmFault,
                                               "loop_stuck": LoopStuck}


class ListsAppliedData(EventData):
    """``gate.lists.applied``: the device's cached lists moved to ``version``."""

    EVENT = EventInfo("gate.lists.applied", "info", "名单已更新", "Lists updated")
    version: int = Field(ge=0, le=2**62)
    base_version: int | None = Field(None, ge=0, le=2**62)
    entries: int = Field(ge=0, le=10**9)
    deleted: int = Field(ge=0, le=10**9)
    reset: bool = False


class DoorData(EventData):
    """What ``door.access`` / ``door.held_open`` / ``door.forced_open`` / ``door.fire`` carry."""

    door: Short
    at: UtcDatetime
    method: Literal["card", "qr", "button", "remote", "fire", "none"] = "none"
    credential: Short | None = Field(None, description="masked card number or QR key id")
    granted: bool | None = None
    reason: Code
    label: Short | None = None
    seconds: float | None = Field(None, ge=0, le=10**7)
    by: Short | None = None


class DoorAccess(DoorData):
    EVENT = EventInfo("door.access", "info", "门禁通行", "Door access")

    def event_severity(self) -> Severity:
        return "warning" if self.granted is False else "info"


class DoorHeldOpen(DoorData):
    EVENT = EventInfo("door.held_open", "alarm", "门长时间未关", "Door held open", units={"seconds": "s"},
                      audience="guard")


class DoorForcedOpen(DoorData):
    EVENT = EventInfo("door.forced_open", "alarm", "门被强行打开", "Door forced open", audience="guard")


class DoorFire(DoorData):
    EVENT = EventInfo("door.fire", "alarm", "消防联动开门", "Fire alarm: door unlocked", audience="guard")

    def event_severity(self) -> Severity:
        return "alarm" if self.reason == "fire_alarm_unlocked" else "warning"


class CameraFault(EventData):
    EVENT = EventInfo("gate.camera_fault", "alarm", "车牌相机故障", "Plate camera fault")
    lane: Short
    error: Annotated[str, Field(max_length=300)]


class CameraRecovered(EventData):
    EVENT = EventInfo("gate.camera_recovered", "info", "车牌相机恢复", "Plate camera recovered")
    lane: Short


class LprEndpointFailed(EventData):
    EVENT = EventInfo("gate.lpr_endpoint_failed", "alarm", "车牌推送接口无法启动", "Plate push endpoint failed")
    error: Annotated[str, Field(max_length=300)]


EVENTS: tuple[type[EventData], ...] = (
    PassageData, PaymentData, Tailgating, ArmFault, LoopStuck, ListsAppliedData, DoorAccess, DoorHeldOpen,
    DoorForcedOpen, DoorFire, CameraFault, CameraRecovered, LprEndpointFailed)
EVENT_MODELS: dict[str, type[EventData]] = {m.EVENT.type: m for m in EVENTS}
PASSAGE = PassageData.EVENT.type
PAYMENT = PaymentData.EVENT.type
LISTS_APPLIED = ListsAppliedData.EVENT.type
DOOR_EVENTS = (DoorAccess, DoorHeldOpen, DoorForcedOpen, DoorFire)
DOOR_ALARMS = (DoorHeldOpen, DoorForcedOpen, DoorFire)


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


class LaneArgs(Args):
    lane: str = Field(min_length=1, max_length=32)


class OpenArgs(LaneArgs):
    reason: str = Field(min_length=2, max_length=200, description="why the guard opens (required, audited)")


class CloseArgs(LaneArgs):
    reason: str = Field("", max_length=200)


class CashArgs(LaneArgs):
    amount_yuan: float | None = Field(None, ge=0, le=100_000, description="empty = the fee due")


class UnlockArgs(Args):
    reason: str = Field(min_length=2, max_length=200)


OPEN_BARRIER_CMD = CommandInfo("open_barrier", OpenArgs, "开闸放行（须填原因）", "Open the barrier (reason)", PEOPLE,
                               local=True)
CLOSE_BARRIER_CMD = CommandInfo("close_barrier", CloseArgs, "落闸", "Close the barrier", PEOPLE, local=True)
DENY_PENDING_CMD = CommandInfo("deny_pending", LaneArgs, "拒绝放行", "Refuse the waiting vehicle", PEOPLE, local=True)
PAY_CASH_CMD = CommandInfo("pay_cash", CashArgs, "现金收费放行", "Cash paid: open", PEOPLE, local=True)
SESSION_PAID_CMD = CommandInfo("session_paid", SessionPaidArgs, "在线支付到账", "Online payment received", SERVER_ONLY)
LISTS_SYNC_CMD = CommandInfo("lists_sync", ListsSyncArgs, "同步名单", "Sync lists", SERVER_ONLY)
UNLOCK_DOOR_CMD = CommandInfo("unlock_door", UnlockArgs, "远程开门（须填原因）", "Unlock the door (reason)", PEOPLE,
                              local=True)
COMMANDS = (OPEN_BARRIER_CMD, CLOSE_BARRIER_CMD, DENY_PENDING_CMD, PAY_CASH_CMD, SESSION_PAID_CMD, LISTS_SYNC_CMD,
            UNLOCK_DOOR_CMD)

# ----------------------------------------------------------------------------------------- human names
FAULTS: dict[str, Label] = {
    "tailgating": Label("跟车闯闸", "Tailgating"),
    "arm_fault": Label("道闸故障", "Barrier arm fault"),
    "loop_stuck": Label("地感长时间占用", "Loop occupied too long"),
    "camera_fault": Label("车牌相机故障", "Plate camera fault"),
    "lpr_endpoint_failed": Label("车牌推送接口无法启动", "Plate push endpoint failed"),
    "held_open": Label("门长时间未关", "Door held open"),
    "forced_open": Label("门被强行打开", "Door forced open"),
    "fire": Label("消防联动开门", "Fire alarm: door unlocked"),
    "blacklist": Label("黑名单车辆", "Blacklisted vehicle"),
}
STATES: dict[str, Label] = {
    "ready": Label("就绪", "Ready"),
    "waiting_guard": Label("等待值班员处理", "Waiting for the guard"),
    "fire_unlocked": Label("消防联动已开门", "Fire: doors unlocked"),
    "open": Label("闸已抬起", "Barrier up"),
    "closed": Label("闸已落下", "Barrier down"),
    "closing": Label("正在落闸", "Barrier closing"),
    "vehicle": Label("有车", "Vehicle on the loop"),
}
DECISIONS: dict[str, Label] = {
    "open": Label("放行", "Open"),
    "deny": Label("拒绝", "Denied"),
    "guard": Label("待值班员确认", "Guard to decide"),
    "pay": Label("待缴费", "To pay"),
    "manual": Label("人工放行", "Opened by hand"),
}
GAUGES: dict[str, Label] = {
    "lists_version": Label("名单版本", "Lists version"),
    "inside_total": Label("场内车辆", "Vehicles inside"),
    "inside_temporary": Label("场内临时车", "Temporary vehicles inside"),
    "capacity_temporary": Label("临时车位", "Temporary spaces"),
    "lane_*_state": Label("道闸状态", "Barrier state"),
    "lane_*_loop": Label("地感有车", "Loop occupied"),
    "lane_*_passages": Label("通行次数", "Passages"),
    "lane_*_pending": Label("等待处理", "Waiting"),
    "lane_*_recog_ms": Label("识别耗时", "Recognition time", "ms"),
    "lpr_*": Label("车牌推送计数", "Plate push count"),
    "door_unlocked": Label("门已开锁", "Door unlocked"),
    "door_fire": Label("消防联动", "Fire alarm"),
}

CONTRACT = KindContract(Kind.gate, EVENTS, COMMANDS, FAULTS, STATES, GAUGES)
