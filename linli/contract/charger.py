"""The ``charger`` kind (e-bike charging piles): events, commands, the tariff and human names.

Event types:

- ``charger.session_started`` (:class:`SessionStarted`): a port was switched on for a paid/authorised session.
- ``charger.settlement`` (:class:`Settlement`): the bill of a finished session. Re-sent (a new event id each time,
  the same ``order_id``) until the server answers with the ``settle_ack`` command naming the order; the server
  stores one bill per ``order_id`` however often it arrives.
- ``charger.fault`` (:class:`Fault`): a safety cut-off or hardware fault (overload, over-temperature, smoke,
  meter/MCU lost, relay welded, fuse blown, sensor fault, meter counter reset/backwards, the meter and the ports'
  sum disagreeing in power or energy), and its clearing. A lost meter is an alarm only: charging goes on.
- ``charger.refused`` (:class:`Refused`): a card, coin or start that was not accepted (no plug, port busy...).

The :class:`Tariff` (versioned; prices in 元, time-of-use bands in Asia/Shanghai) is set on the server and sent to
the piles as desired config; a session keeps a copy of the tariff it started under.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .payloads import Severity
from .spec import PEOPLE, SERVER_ONLY, Args, CommandInfo, EventData, EventInfo, KindContract, Label
from .topics import Kind

StopReason = Literal[
    "full", "unplugged", "no_plug", "time_used", "money_used", "max_duration", "user_stop", "remote_stop",
    "local_stop", "overload", "pile_overload", "over_temperature", "smoke", "meter_lost", "mcu_lost",
    "port_fault", "sensor_fault", "power_restored",
]
Source = Literal["card", "coin", "remote", "local"]
BillingMode = Literal["time_tiers", "energy_tou", "coin_time", "free"]
FaultKind = Literal[
    "overload", "pile_overload", "over_temperature", "smoke", "meter_lost", "mcu_lost", "relay_welded",
    "fuse_blown", "sensor_fault", "meter_counter_reset", "meter_counter_backwards", "relay_mismatch",
    "mcu_watchdog", "mcu_rebooted", "meter_power_mismatch", "meter_energy_mismatch",
]

#: Faults that are reported as warnings (the meter's counter, a controller restart: not a danger by themselves).
WARNING_FAULTS = frozenset({"meter_counter_reset", "meter_counter_backwards", "mcu_rebooted"})


# ------------------------------------------------------------------------------------------------- events
class SessionStarted(EventData):
    EVENT = EventInfo("charger.session_started", "info", "开始充电", "Charging started",
                      units={"prepaid_fen": "fen", "prepaid_s": "s"})
    order_id: str = Field(min_length=1, max_length=64)
    port: int = Field(ge=1, le=17)
    source: Source
    user: str = Field("", max_length=64, description="card id, app user or coin")
    mode: BillingMode
    tariff_version: int = Field(ge=0, le=2**31)
    prepaid_fen: int = Field(ge=0, le=10**9)
    prepaid_s: int = Field(ge=0, le=10**7, description="prepaid charging time (0: until full / money used)")
    started_at: datetime


class Settlement(EventData):
    EVENT = EventInfo("charger.settlement", "info", "充电结算", "Charging bill",
                      units={"charged_s": "s", "energy_wh": "Wh", "max_power_w": "W", "tier_w": "W",
                             "tier_power_w": "W", "tier_window_s": "s",
                             "amount_fen": "fen", "prepaid_fen": "fen", "refund_fen": "fen"})
    order_id: str = Field(min_length=1, max_length=64)
    port: int = Field(ge=1, le=17)
    source: Source
    user: str = Field("", max_length=64)
    mode: BillingMode
    tariff_version: int = Field(ge=0, le=2**31)
    started_at: datetime
    ended_at: datetime
    charged_s: int = Field(ge=0, le=10**7, description="seconds with the relay on")
    energy_wh: float = Field(ge=0, le=10**7)
    max_power_w: float = Field(ge=0, le=10**6)
    tier_w: int | None = Field(None, ge=0, le=10**6, description="power tier billed (time_tiers): its 'up to' watts")
    tier_power_w: float | None = Field(None, ge=0, le=10**6, description="the power that set the tier (time_tiers): "
                                       "the highest held for tier_window_s without a break, not the highest sample")
    tier_window_s: float | None = Field(None, ge=0, le=10**6, description="how long a power had to be held to count")
    tier_basis: Literal["held", "whole_session"] | None = Field(
        None, description="held: over a whole window; whole_session: the session was shorter than the window, "
                          "so the power held from its start")
    amount_fen: int = Field(ge=0, le=10**9, description="what the session cost, in fen (0.01 元)")
    prepaid_fen: int = Field(ge=0, le=10**9)
    refund_fen: int = Field(ge=0, le=10**9, description="unused prepay to give back")
    stop_reason: StopReason
    resumed: int = Field(0, ge=0, le=10**6, description="times the session was resumed after an agent restart")
    attempt: int = Field(1, ge=1, le=10**9, description="1 for the first send, then +1 per resend")


class Fault(EventData):
    EVENT = EventInfo("charger.fault", "alarm", "充电桩故障", "Charger fault")
    fault: FaultKind
    port: int | None = Field(None, ge=1, le=17, description="None: the whole pile")
    active: bool = True
    detail: str = Field("", max_length=500)
    value: float | None = None

    def event_severity(self) -> Severity:
        if not self.active:
            return "info"
        return "warning" if self.fault in WARNING_FAULTS else "alarm"


class Refused(EventData):
    EVENT = EventInfo("charger.refused", "warning", "充电请求被拒绝", "Charging refused", audience="manager")
    source: Source
    port: int | None = Field(None, ge=1, le=17)
    user: str = Field("", max_length=64)
    reason: str = Field(max_length=500)


EVENTS: tuple[type[EventData], ...] = (SessionStarted, Settlement, Fault, Refused)
SESSION_STARTED = SessionStarted.EVENT.type
SETTLEMENT = Settlement.EVENT.type
FAULT = Fault.EVENT.type
REFUSED = Refused.EVENT.type


# ----------------------------------------------------------------------------------------------- commands
class StartArgs(Args):
    port: int = Field(ge=1, le=17)
    prepaid_fen: int = Field(0, ge=0, le=100_000, description="paid in advance (0: until full, billed after)")
    minutes: int = Field(0, ge=0, le=24 * 60, description="charging time bought (0: until full or money used)")
    order_id: str | None = Field(None, min_length=1, max_length=64,
                                 description="the payment's order id: a repeated start with it starts nothing")
    user: str = Field("", max_length=64)
    free: bool = Field(False, description="no charge (staff test, free hours)")


class StopArgs(Args):
    port: int = Field(ge=1, le=17)
    order_id: str | None = Field(None, max_length=64, description="stop only if the port runs this order")


class PortArgs(Args):
    port: int = Field(ge=1, le=17)


class SettleAckArgs(Args):
    """``settle_ack`` command: the server has stored these orders' bills."""

    order_ids: list[str] = Field(min_length=1, max_length=200)


START_CMD = CommandInfo("start", StartArgs, "启动端口", "Start a port", PEOPLE, local=True)
STOP_CMD = CommandInfo("stop", StopArgs, "停止端口", "Stop a port", PEOPLE, local=True)
SETTLE_ACK_CMD = CommandInfo("settle_ack", SettleAckArgs, "结算确认", "Settlement acknowledged", SERVER_ONLY)
CLEAR_FAULT_CMD = CommandInfo("clear_fault", PortArgs, "清除端口故障", "Clear a port fault", PEOPLE, local=True)
COMMANDS = (START_CMD, STOP_CMD, SETTLE_ACK_CMD, CLEAR_FAULT_CMD)


# ------------------------------------------------------------------------------------------------- tariff
SHANGHAI = ZoneInfo("Asia/Shanghai")


class PowerTier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_w: int = Field(gt=0, title="Up to (W)",
                       description="Sessions whose highest power held for tier_window_s is at most this.")
    yuan_per_hour: float = Field(ge=0, title="元 per hour")


class TouBand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time = Field(title="From (Asia/Shanghai)", description="HH:MM, on a half hour")
    end: time = Field(title="Until", description="HH:MM (00:00 = midnight, end of day)")
    yuan_per_kwh: float = Field(ge=0, title="元 per kWh")

    def covers(self, t: time) -> bool:
        m = t.hour * 60 + t.minute
        s = self.start.hour * 60 + self.start.minute
        e = self.end.hour * 60 + self.end.minute or 24 * 60
        return s <= m < e if s < e else (m >= s or m < e)  # a band may run across midnight


DEFAULT_TIERS = [PowerTier(max_w=w, yuan_per_hour=p) for w, p in
                 ((200, 0.25), (300, 0.35), (500, 0.5), (800, 0.8), (1000, 1.0), (1500, 1.5), (2000, 2.0),
                  (2500, 2.5))]
DEFAULT_TOU = [TouBand(start=time(8), end=time(22), yuan_per_kwh=1.2),
               TouBand(start=time(22), end=time(8), yuan_per_kwh=0.6)]


class Tariff(BaseModel):
    """What charging costs on this pile. Raise ``version`` with every change."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(1, ge=1, title="Version", description="Raised with every change; bills name it.")
    mode: BillingMode = Field("time_tiers", title="Billing mode",
                              description="time_tiers | energy_tou | coin_time | free (for card and app sessions; "
                                          "coins always buy coin_minutes each).")
    tiers: list[PowerTier] = Field(default_factory=lambda: list(DEFAULT_TIERS), title="Power tiers")
    tou: list[TouBand] = Field(default_factory=lambda: list(DEFAULT_TOU), title="Time-of-use bands")
    coin_yuan: float = Field(1.0, gt=0, title="元 per coin")
    coin_minutes: int = Field(240, ge=1, le=1440, title="Minutes per coin")
    min_fen: int = Field(0, ge=0, title="Least charge (fen)", description="A started session costs at least this.")
    tier_window_s: float = Field(60.0, ge=0, le=3600, title="Tier from power held for (s)",
                                 description="time_tiers: the tier is set by the highest power held this long "
                                             "without a break (0: the highest single measurement).")

    @model_validator(mode="after")
    def _check(self) -> Tariff:
        maxes = [t.max_w for t in self.tiers]
        if maxes != sorted(maxes) or len(set(maxes)) != len(maxes):
            raise ValueError("tiers: max_w must rise strictly from one tier to the next")
        if self.mode == "time_tiers" and not self.tiers:
            raise ValueError("tiers: time_tiers billing needs at least one tier")
        if self.mode == "energy_tou":
            for minute in range(0, 24 * 60, 30):
                t = time(minute // 60, minute % 60)
                if not any(b.covers(t) for b in self.tou):
                    raise ValueError(f"tou: no band covers {t:%H:%M} (bands must cover the whole day)")
        return self

    # ------------------------------------------------------------------ prices
    def tier_for(self, max_power_w: float) -> PowerTier:
        for tier in self.tiers:
            if max_power_w <= tier.max_w:
                return tier
        return self.tiers[-1]

    def kwh_price(self, when_epoch: float) -> float:
        local = datetime.fromtimestamp(when_epoch, SHANGHAI).time()
        for band in self.tou:
            if band.covers(local):
                return band.yuan_per_kwh
        return self.tou[-1].yuan_per_kwh

    @property
    def coin_fen(self) -> int:
        return round(self.coin_yuan * 100)


# ----------------------------------------------------------------------------------------- human names
FAULTS: dict[str, Label] = {
    "overload": Label("端口过载", "Port overload"),
    "pile_overload": Label("整桩过载", "Pile overload"),
    "over_temperature": Label("温度过高", "Over temperature"),
    "smoke": Label("检测到烟雾", "Smoke detected"),
    "meter_lost": Label("电表无响应", "Meter not answering"),
    "mcu_lost": Label("控制板无响应", "Pile controller not answering"),
    "relay_welded": Label("继电器粘连", "Relay welded"),
    "fuse_blown": Label("保险丝熔断", "Fuse blown"),
    "sensor_fault": Label("传感器故障", "Sensor fault"),
    "meter_counter_reset": Label("电表读数归零", "Meter counter reset"),
    "meter_counter_backwards": Label("电表读数倒退", "Meter counter went backwards"),
    "relay_mismatch": Label("继电器状态不符", "Relay does not follow"),
    "mcu_watchdog": Label("控制板看门狗断电", "Controller watchdog cut power"),
    "mcu_rebooted": Label("控制板重启", "Controller restarted"),
    "meter_power_mismatch": Label("电表与端口功率不符", "Meter and ports disagree on power"),
    "meter_energy_mismatch": Label("电表与端口电量不符", "Meter and ports disagree on energy"),
}
STOP_REASONS: dict[str, Label] = {
    "full": Label("已充满", "Full"),
    "unplugged": Label("已拔出", "Unplugged"),
    "no_plug": Label("未插入", "Not plugged in"),
    "time_used": Label("时间用完", "Time used up"),
    "money_used": Label("余额用完", "Money used up"),
    "max_duration": Label("达到最长时长", "Longest session reached"),
    "user_stop": Label("用户停止", "Stopped by the user"),
    "remote_stop": Label("远程停止", "Stopped remotely"),
    "local_stop": Label("现场停止", "Stopped on site"),
    "overload": Label("端口过载", "Port overload"),
    "pile_overload": Label("整桩过载", "Pile overload"),
    "over_temperature": Label("温度过高", "Over temperature"),
    "smoke": Label("检测到烟雾", "Smoke detected"),
    "meter_lost": Label("电表无响应", "Meter not answering"),
    "mcu_lost": Label("控制板无响应", "Pile controller not answering"),
    "port_fault": Label("端口故障", "Port fault"),
    "sensor_fault": Label("传感器故障", "Sensor fault"),
    "power_restored": Label("来电后结算", "Settled after a power cut"),
}
STATES: dict[str, Label] = {
    "idle": Label("空闲", "Idle"),
    "plugged": Label("已插入", "Plugged in"),
    "charging": Label("充电中", "Charging"),
    "float": Label("涓流充电", "Trickle charging"),
    "finished": Label("已结束", "Finished"),
    "fault": Label("故障", "Fault"),
    "smoke": Label("检测到烟雾", "Smoke detected"),
}
GAUGES: dict[str, Label] = {
    "mcu_ok": Label("控制板正常", "Controller OK"),
    "meter_ok": Label("电表正常", "Meter OK"),
    "smoke": Label("烟雾", "Smoke"),
    "pile_power_w": Label("整桩功率", "Pile power", "W"),
    "meter_kwh": Label("电表读数", "Meter reading", "kWh"),
    "meter_errors": Label("电表读取失败", "Meter read failures"),
    "meter_busy_retries": Label("电表忙重试", "Meter busy retries"),
    "meter_power_mismatch": Label("电表与端口功率不符", "Meter and ports disagree on power"),
    "meter_energy_mismatch": Label("电表与端口电量不符", "Meter and ports disagree on energy"),
    "sessions_open": Label("充电中的端口", "Ports charging"),
    "settlements_pending": Label("待确认结算", "Bills awaiting acknowledgement"),
    "tariff_version": Label("收费标准版本", "Tariff version"),
    "cycle_ms": Label("巡检周期", "Check cycle", "ms"),
    "p*_state": Label("端口状态", "Port state"),
    "p*_w": Label("端口功率", "Port power", "W"),
    "p*_wh": Label("本次电量", "Session energy", "Wh"),
    "p*_s": Label("本次充电时长", "Charging time", "s"),
    "p*_fen": Label("本次费用", "Cost so far", "fen"),
}

CONTRACT = KindContract(Kind.charger, EVENTS, COMMANDS, FAULTS, STATES, GAUGES)
