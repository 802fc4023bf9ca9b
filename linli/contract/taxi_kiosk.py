"""The ``taxi_kiosk`` kind: typed payloads inside the generic contract, commands and human names.

Kiosk → server, as events (``Event.type`` / ``Event.data``), through the agent's outbox (so they wait out a network
outage and are never dropped):

====================  =========================  ===============================================================
event type            data model                 meaning
====================  =========================  ===============================================================
``taxi.order_requested``  :class:`OrderRequested`  a resident tapped (or pressed the button): a new order, its id
                                                   (ULID) and idempotency key made on the kiosk
``taxi.order_cancel``     :class:`OrderCancel`     the resident (or staff, or the kiosk's own time limit) cancels
``taxi.order_phone``      :class:`OrderPhone`      an optional call-back number added to an order
``taxi.order_sync``       :class:`OrderSync`       "tell me the state again" (after a reboot or a reconnect)
====================  =========================  ===============================================================

Server → kiosk, as the command ``order_update`` (``Command.args`` = :class:`OrderUpdate`): the order's state as the
dispatcher sees it, with a sequence number per order; the kiosk applies an update only when its ``seq`` is higher
than the last one it applied, so late or repeated updates never move the screen backwards.

Both sides validate with these models (``extra="forbid"``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .payloads import EventId, UtcDatetime
from .spec import PEOPLE, SERVER_ONLY, CommandInfo, EventData, EventInfo, KindContract, Label
from .topics import Kind

CMD_ORDER_UPDATE = "order_update"

#: Mainland phone numbers as typed on the kiosk keypad: a mobile (1xxxxxxxxxx) or a landline with area code.
PHONE_PATTERN = r"^(1[3-9][0-9]{9}|0[1-9][0-9]{8,10})$"
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, description="mobile (11 digits) or landline with area code")]
RequestKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="idempotency key made on the kiosk")]


class OrderState(StrEnum):
    """An order's state as the kiosk is told it."""

    searching = "searching"  #: the server has it and is looking for a driver
    assigned = "assigned"  #: a driver accepted and is on the way
    arriving = "arriving"  #: the car is close (or already at the pick-up point)
    picked_up = "picked_up"  #: the resident got in: done
    cancelled = "cancelled"  #: cancelled (by the resident, staff or the driver with no other car found)
    no_driver = "no_driver"  #: nobody accepted within the time limit
    unavailable = "unavailable"  #: the taxi platform could not be reached (errors/timeouts) within the time limit
    no_show = "no_show"  #: the driver waited at the pick-up point and nobody came


TERMINAL_STATES = frozenset({OrderState.picked_up, OrderState.cancelled, OrderState.no_driver,
                             OrderState.unavailable, OrderState.no_show})
ACTIVE_STATES = frozenset(set(OrderState) - TERMINAL_STATES)

CarColour = Literal["white", "black", "silver", "grey", "red", "yellow", "green", "blue", "teal", "orange", "gold",
                    "brown"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(_Model):
    """Where the kiosk stands: the pick-up point is always the kiosk's own (no typing, no phone GPS)."""

    name: str = Field(min_length=1, max_length=64, description="e.g. 曹杨新村东门")
    pickup_point: str = Field(min_length=1, max_length=64, description="the taxi bay next to the kiosk")
    lat: float = Field(ge=-90, le=90, description="latitude (WGS-84) of the pick-up point")
    lon: float = Field(ge=-180, le=180, description="longitude (WGS-84) of the pick-up point")


class OrderRequested(EventData):
    EVENT = EventInfo("taxi.order_requested", "info", "叫车", "Taxi ordered")
    order_id: EventId
    request_key: RequestKey
    source: Literal["screen", "button", "sim"]
    place: Place
    requested_at: UtcDatetime
    phone: Phone | None = None
    elderly_priority: bool = Field(True, description="ask the platform for its priority for passengers 60+")


class OrderCancel(EventData):
    EVENT = EventInfo("taxi.order_cancel", "info", "取消叫车", "Taxi order cancelled")
    order_id: EventId
    reason: Literal["resident", "no_answer", "staff"]


class OrderPhone(EventData):
    EVENT = EventInfo("taxi.order_phone", "info", "留下回拨电话", "Call-back number added")
    order_id: EventId
    phone: Phone


class OrderSync(EventData):
    EVENT = EventInfo("taxi.order_sync", "info", "请求订单状态", "Order state requested")
    order_id: EventId
    seq: int = Field(ge=0, le=2**31, description="the last update the kiosk applied")


class Driver(_Model):
    surname: str = Field(min_length=1, max_length=8, description="family name only, e.g. 张 (shown as 张师傅)")
    plate: str = Field(min_length=5, max_length=12, description="licence plate without separators, e.g. 沪AF1234")
    car_colour: CarColour
    car_model: str = Field("", max_length=32, description="e.g. 大众朗逸")
    phone_tail: str | None = Field(None, pattern=r"^[0-9]{4}$", description="last 4 digits of the driver's phone")


class CarPosition(_Model):
    """The car relative to the pick-up point, in metres (x east, y north): the kiosk's map needs nothing else."""

    dx_m: float = Field(ge=-50_000, le=50_000)
    dy_m: float = Field(ge=-50_000, le=50_000)
    heading_deg: float = Field(0.0, ge=0, lt=360)


Note = Literal["driver_cancelled", "driver_no_show", "provider_error", "superseded", "staff"]


class OrderUpdate(_Model):
    """The ``order_update`` command's arguments."""

    order_id: EventId
    seq: int = Field(ge=1, le=2**31, description="per order, increasing; older or equal ones are ignored")
    state: OrderState
    at: UtcDatetime
    driver: Driver | None = None
    eta_s: int | None = Field(None, ge=0, le=24 * 3600)
    distance_m: int | None = Field(None, ge=0, le=200_000)
    car: CarPosition | None = None
    note: Note | None = None


EVENTS: tuple[type[EventData], ...] = (OrderRequested, OrderCancel, OrderPhone, OrderSync)
EVENT_ORDER_REQUESTED = OrderRequested.EVENT.type
EVENT_ORDER_CANCEL = OrderCancel.EVENT.type
EVENT_ORDER_PHONE = OrderPhone.EVENT.type
EVENT_ORDER_SYNC = OrderSync.EVENT.type
EVENT_TYPES = tuple(m.EVENT.type for m in EVENTS)

ORDER_UPDATE_CMD = CommandInfo(CMD_ORDER_UPDATE, OrderUpdate, "订单状态", "Order state", SERVER_ONLY)
CANCEL_ORDER_CMD = CommandInfo("cancel_order", None, "取消当前订单", "Cancel the current order", PEOPLE, local=True)
TEST_VOICE_CMD = CommandInfo("test_voice", None, "测试语音", "Test the voice", PEOPLE, local=True)
COMMANDS = (ORDER_UPDATE_CMD, CANCEL_ORDER_CMD, TEST_VOICE_CMD)

# ----------------------------------------------------------------------------------------- human names
ORDER_STATES: dict[str, Label] = {
    "requested": Label("已提交", "Requested"),
    "searching": Label("正在找车", "Finding a car"),
    "assigned": Label("司机已接单", "Driver on the way"),
    "arriving": Label("车辆即将到达", "Car arriving"),
    "picked_up": Label("已上车", "Picked up"),
    "cancelled": Label("已取消", "Cancelled"),
    "no_driver": Label("无司机接单", "No driver"),
    "unavailable": Label("叫车平台不可用", "Taxi platform unavailable"),
    "no_show": Label("乘客未到", "Passenger did not come"),
}
STATES: dict[str, Label] = {
    **ORDER_STATES,
    "idle": Label("待机", "Idle"),
    "calling": Label("正在叫车", "Calling"),
    "phone": Label("输入电话", "Typing a phone number"),
    "confirm_cancel": Label("确认取消", "Confirming the cancellation"),
}
FAULTS: dict[str, Label] = {
    "provider_error": Label("叫车平台出错", "Taxi platform error"),
}
GAUGES: dict[str, Label] = {
    "screen": Label("当前画面", "Screen"),
    "order_active": Label("有进行中的订单", "Order in progress"),
    "online": Label("网络在线", "Online"),
    "orders_today": Label("今日订单", "Orders today"),
    "picked_up_today": Label("今日上车", "Picked up today"),
    "cancelled_today": Label("今日取消", "Cancelled today"),
    "failed_today": Label("今日未成功", "Failed today"),
    "calls_refused": Label("拒绝的叫车", "Calls refused"),
    "duplicate_taps": Label("重复点击", "Repeated taps"),
    "kiosk_page_up": Label("叫车屏在线", "Kiosk screen up"),
    "button_presses": Label("按钮次数", "Button presses"),
}

CONTRACT = KindContract(Kind.taxi_kiosk, EVENTS, COMMANDS, FAULTS, STATES, GAUGES)
