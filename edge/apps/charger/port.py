"""One port's session and its state machine: authorised → (waiting for plug) → charging ⇄ float → finished.

Pure logic: :meth:`Session.step` takes a measurement and the time (epoch seconds of the agent's clock) and says
whether the session must stop and why. The pile controller switches relays, journals and settles.

The price tier (``time_tiers``) comes from the power the session *held*: each measurement holds until the next,
and a power counts once every measurement over a whole ``tier_window_s`` was at least that (see tariff.py). The
bill says which power set the tier, over which window, and whether the session was shorter than the window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Limits
from .tariff import Tariff, energy_cost_mfen, seconds_covered, time_cost_fen


@dataclass
class Session:
    order_id: str
    port: int
    source: str
    user: str
    mode: str  # time_tiers | energy_tou | coin_time | free
    tariff: dict[str, Any]
    prepaid_fen: int  # 0 with prepaid_s = 0: charge until full, billed afterwards
    prepaid_s: int
    created_at: float
    state: str = "authorised"  # authorised | charging | float
    started_at: float | None = None  # relay on
    charged_s: float = 0.0
    energy_wh: float = 0.0
    last_counter_wh: int | None = None
    cost_mfen: float = 0.0
    max_power_w: float = 0.0  # the highest single measurement (shown; it does not set the tier)
    tier_power_w: float = 0.0  # the highest power held for a whole tier window
    tier_confirmed: bool = False  # a whole window has been seen
    tier_samples: list[list[float]] = field(default_factory=list)  # [time, W] of the current window
    float_since: float | None = None
    low_since: float | None = None
    over_since: float | None = None
    last_tick: float | None = None
    resumed: int = 0

    @property
    def tariff_model(self) -> Tariff:
        return Tariff.model_validate(self.tariff)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Session:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    # ------------------------------------------------------------------ metering
    def count_energy(self, counter_wh: int, now: float, tariff: Tariff) -> None:
        """Add what the MCU's per-port counter moved since the last reading (an MCU restart zeroes it)."""
        if self.last_counter_wh is None:
            self.last_counter_wh = counter_wh
            return
        delta = counter_wh - self.last_counter_wh
        if delta < 0:  # the MCU restarted: its counter began again at 0
            delta = counter_wh
        self.last_counter_wh = counter_wh
        if delta:
            self.energy_wh += delta
            if self.mode == "energy_tou":
                self.cost_mfen += energy_cost_mfen(tariff, delta, now)

    def cost_fen(self, tariff: Tariff) -> int:
        if self.mode == "free":
            return 0
        if self.mode == "coin_time":
            return self.prepaid_fen  # coins are spent as inserted
        if self.mode == "energy_tou":
            cost = math.ceil(self.cost_mfen / 1000 - 1e-9)
        else:
            cost = time_cost_fen(tariff, self.charged_s, self.tier_basis(tariff)[0])
        if self.started_at is not None:
            cost = max(cost, tariff.min_fen)
        return cost

    # ------------------------------------------------------------------ decisions
    def step(self, now: float, power_w: float, temperature_c: float | None, plugged: bool, limits: Limits,
             tariff: Tariff) -> str | None:
        """Advance with one measurement of a port whose relay is on; the stop reason, or None to go on."""
        if self.last_tick is not None:
            self.charged_s += max(0.0, now - self.last_tick)
        self.last_tick = now
        self.max_power_w = max(self.max_power_w, power_w)
        self.observe_power(now, power_w, tariff.tier_window_s)
        if temperature_c is not None and temperature_c >= limits.over_temp_c:
            return "over_temperature"
        if power_w > limits.port_max_w:
            self.over_since = self.over_since if self.over_since is not None else now
            if now - self.over_since >= limits.overload_confirm_s:
                return "overload"
        else:
            self.over_since = None
        if not plugged:
            return "unplugged"
        if power_w < limits.unplug_w:
            self.low_since = self.low_since if self.low_since is not None else now
            if now - self.low_since >= limits.unplug_s:
                return "unplugged"
        else:
            self.low_since = None
        if power_w < limits.full_w:
            if self.float_since is None:
                self.float_since = now
            self.state = "float"
            if now - self.float_since >= limits.float_s:
                return "full"
        elif power_w >= limits.full_w * 1.5:  # hysteresis: a charger restarting its CV stage
            self.float_since = None
            self.state = "charging"
        return self.limit_reason(limits, tariff)

    # ------------------------------------------------------------------ the price tier
    def observe_power(self, now: float, power_w: float, window_s: float) -> None:
        """A measurement at ``now``: first close the window ending now (the earlier measurements held until now)."""
        held, keep = held_power(self.tier_samples, now, window_s)
        if held is not None:
            self.tier_power_w = max(self.tier_power_w, held)
            self.tier_confirmed = True
        del self.tier_samples[:keep]
        if self.tier_samples and self.tier_samples[-1][0] >= now:
            self.tier_samples[-1] = [now, power_w]  # two polls at one instant: the earlier one held for no time
        else:
            self.tier_samples.append([now, power_w])

    def tier_basis(self, tariff: Tariff) -> tuple[float, str]:
        """The power that sets the tier up to the last measurement time, and why: ``held`` (the highest power held
        for a whole ``tier_window_s``) or ``whole_session`` (shorter than the window: the power held from the start).
        """
        end = self.last_tick if self.last_tick is not None else self.created_at
        held, _ = held_power(self.tier_samples, end, tariff.tier_window_s)
        if self.tier_confirmed or held is not None:
            return max(self.tier_power_w, held or 0.0), "held"
        before = [w for t, w in self.tier_samples if t < end]
        return (min(before) if before else 0.0), "whole_session"

    def restart_tier_window(self) -> None:
        """After an outage: nothing was measured, so no measurement holds across it."""
        self.tier_samples.clear()

    def limit_reason(self, limits: Limits, tariff: Tariff) -> str | None:
        if self.prepaid_s and self.charged_s >= self.prepaid_s:
            return "time_used"
        if self.prepaid_fen and self.prepaid_s == 0 and self.money_used(tariff):
            return "money_used"
        if self.charged_s >= limits.max_session_s:
            return "max_duration"
        return None

    def money_used(self, tariff: Tariff) -> bool:
        """Has the prepayment been used? Not as soon as the bill (rounded up to the minute or the fen) reaches it,
        but once going on would cost more: time_tiers at the end of the last whole minute it pays for, energy_tou
        once the energy drawn is worth it."""
        if self.mode == "time_tiers":
            return self.charged_s >= seconds_covered(tariff, self.prepaid_fen, self.tier_basis(tariff)[0])
        if self.mode == "energy_tou":
            return self.cost_mfen >= self.prepaid_fen * 1000
        return False

    def remaining_s(self, limits: Limits, tariff: Tariff) -> float:
        """Charging time left (for the page): the least of prepaid time, money and the longest session."""
        left = limits.max_session_s - self.charged_s
        if self.prepaid_s:
            left = min(left, self.prepaid_s - self.charged_s)
        if self.mode == "time_tiers" and self.prepaid_fen and not self.prepaid_s:
            left = min(left, seconds_covered(tariff, self.prepaid_fen, self.tier_basis(tariff)[0]) - self.charged_s)
        return max(0.0, left)

    def bill(self, tariff: Tariff, stop_reason: str, ended_at: float) -> dict[str, Any]:
        amount = self.cost_fen(tariff)
        if self.prepaid_fen and self.mode != "coin_time":
            amount = min(amount, self.prepaid_fen)
        refund = max(0, self.prepaid_fen - amount) if self.mode not in ("coin_time",) else 0
        tiered = self.mode == "time_tiers"
        tier_w, tier_basis = self.tier_basis(tariff)
        tier = tariff.tier_for(tier_w).max_w if tiered else None
        return {
            "order_id": self.order_id, "port": self.port, "source": self.source, "user": self.user,
            "mode": self.mode, "tariff_version": int(self.tariff.get("version", 1)),
            "started_at": self.started_at or self.created_at, "ended_at": ended_at,
            "charged_s": round(self.charged_s), "energy_wh": round(self.energy_wh, 1),
            "max_power_w": round(self.max_power_w, 1), "tier_w": tier,
            "tier_power_w": round(tier_w, 1) if tiered else None,
            "tier_window_s": tariff.tier_window_s if tiered else None,
            "tier_basis": tier_basis if tiered else None, "amount_fen": amount,
            "prepaid_fen": self.prepaid_fen, "refund_fen": refund, "stop_reason": stop_reason,
            "resumed": self.resumed,
        }


def held_power(samples: list[list[float]], end: float, window_s: float) -> tuple[float | None, int]:
    """The power held over the window ``[end - window_s, end)`` by ``samples`` ([time, W], each holding until the
    next): the least of those in force, or None when they do not reach back to the window's start. Also how many
    leading samples no later window needs (they were superseded before this window began)."""
    start = end - window_s
    keep = 0
    while keep + 1 < len(samples) and samples[keep + 1][0] <= start:
        keep += 1
    if not samples or samples[keep][0] > start:
        return None, keep
    in_force = [w for t, w in samples[keep:] if t < end]
    return (min(in_force) if in_force else None), keep


@dataclass
class PortView:
    """What the controller knows of a port between polls."""

    number: int
    plugged: bool = False
    power_w: float = 0.0
    voltage_v: float = 0.0
    temperature_c: float | None = None
    relay_on: bool = False
    live: bool = False
    faults: set[str] = field(default_factory=set)
    session: Session | None = None
    last_reason: str | None = None  # why the last session ended (shown until the plug comes out)
    counter_wh: int | None = None  # the MCU's energy counter of this port at the last poll
    cold_since: float | None = None  # temperature implausibly low while drawing power, since
    plugged_at: float | None = None

    @property
    def state(self) -> str:
        if self.faults & {"relay_welded", "fuse_blown"}:
            return "fault"
        if self.session is not None:
            return self.session.state
        if self.last_reason is not None:
            return "finished"
        return "plugged" if self.plugged else "idle"
