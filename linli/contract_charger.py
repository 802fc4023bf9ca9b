"""Typed ``Event.data`` and command arguments of the ``charger`` kind, validated on the device and the server.

Event types:

- ``charger.session_started`` (:class:`SessionStarted`): a port was switched on for a paid/authorised session.
- ``charger.settlement`` (:class:`Settlement`): the bill of a finished session. Re-sent (a new event id each time,
  the same ``order_id``) until the server answers with the ``settle_ack`` command naming the order; the server
  stores one bill per ``order_id`` however often it arrives.
- ``charger.fault`` (:class:`Fault`): a safety cut-off or hardware fault (overload, over-temperature, smoke,
  meter/MCU lost, relay welded, fuse blown, sensor fault, meter counter reset/backwards, the meter and the ports'
  sum disagreeing in power or energy), and its clearing. A lost meter is an alarm only: charging goes on.
- ``charger.refused`` (:class:`Refused`): a card, coin or start that was not accepted (no plug, port busy...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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

SESSION_STARTED = "charger.session_started"
SETTLEMENT = "charger.settlement"
FAULT = "charger.fault"
REFUSED = "charger.refused"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionStarted(_Model):
    order_id: str = Field(min_length=1, max_length=64)
    port: int = Field(ge=1, le=17)
    source: Source
    user: str = Field("", max_length=64, description="card id, app user or coin")
    mode: BillingMode
    tariff_version: int
    prepaid_fen: int = Field(ge=0)
    prepaid_s: int = Field(ge=0, description="prepaid charging time (0: until full / money used)")
    started_at: datetime


class Settlement(_Model):
    order_id: str = Field(min_length=1, max_length=64)
    port: int = Field(ge=1, le=17)
    source: Source
    user: str = Field("", max_length=64)
    mode: BillingMode
    tariff_version: int
    started_at: datetime
    ended_at: datetime
    charged_s: int = Field(ge=0, description="seconds with the relay on")
    energy_wh: float = Field(ge=0)
    max_power_w: float = Field(ge=0)
    tier_w: int | None = Field(None, description="power tier billed (time_tiers): its 'up to' watts")
    tier_power_w: float | None = Field(None, ge=0, description="the power that set the tier (time_tiers): the "
                                       "highest held for tier_window_s without a break, not the highest sample")
    tier_window_s: float | None = Field(None, ge=0, description="how long a power had to be held to count")
    tier_basis: Literal["held", "whole_session"] | None = Field(
        None, description="held: over a whole window; whole_session: the session was shorter than the window, "
                          "so the power held from its start")
    amount_fen: int = Field(ge=0, description="what the session cost, in fen (0.01 元)")
    prepaid_fen: int = Field(ge=0)
    refund_fen: int = Field(ge=0, description="unused prepay to give back")
    stop_reason: StopReason
    resumed: int = Field(0, ge=0, description="times the session was resumed after an agent restart")
    attempt: int = Field(1, ge=1, description="1 for the first send, then +1 per resend")


class Fault(_Model):
    fault: FaultKind
    port: int | None = Field(None, ge=1, le=17, description="None: the whole pile")
    active: bool = True
    detail: str = ""
    value: float | None = None


class Refused(_Model):
    source: Source
    port: int | None = None
    user: str = ""
    reason: str


class SettleAckArgs(_Model):
    """``settle_ack`` command: the server has stored these orders' bills."""

    order_ids: list[str] = Field(min_length=1, max_length=200)
