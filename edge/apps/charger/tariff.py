"""Tariffs (versioned) and how a session is priced.

A session keeps a copy of the tariff it started under (in the journal), so a tariff changed by the server while
it runs does not change its bill. Money is integer fen (0.01 元); energy costs accumulate in milli-fen.

- ``time_tiers``: price per hour by the power tier of the highest power the session *held* for ``tier_window_s``
  (8 tiers, as piles do). A power counts only when every measurement over a whole window was at least that much
  (like the overload confirmation): a charger's start-up surge or a one-second spike does not set the tier, a
  bike drawing 450 W for a minute does. A session shorter than the window is priced by the power it held from its
  start. Whole minutes started are billed, ``元/h × minutes / 60`` rounded half up to the fen (四舍五入).
- ``energy_tou``: price per kWh by time of use (Asia/Shanghai half-hour slots).
- ``coin_time``: each coin buys ``coin_minutes`` of charging (no refunds of cash).
- ``free``: nothing to pay (staff tests, a property's free hours).
"""

from __future__ import annotations

import math
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    mode: str = Field("time_tiers", pattern="^(time_tiers|energy_tou|coin_time|free)$", title="Billing mode",
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


def time_cost_fen(tariff: Tariff, charged_s: float, tier_power_w: float) -> int:
    """time_tiers: whole minutes started are billed (as meters of time are), rounded half up to the fen."""
    tier = tariff.tier_for(tier_power_w)
    minutes = math.ceil(max(0.0, charged_s) / 60 - 1e-9)
    fen = Decimal(str(tier.yuan_per_hour)) * 100 * minutes / 60
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def energy_cost_mfen(tariff: Tariff, wh: float, when_epoch: float) -> float:
    """energy_tou: cost of ``wh`` drawn at ``when_epoch``, in milli-fen."""
    return wh / 1000 * tariff.kwh_price(when_epoch) * 100_000


def seconds_affordable(tariff: Tariff, fen: int, tier_power_w: float) -> float:
    """time_tiers: how long ``fen`` lasts at the tier of ``tier_power_w``."""
    per_hour = tariff.tier_for(tier_power_w).yuan_per_hour * 100
    return math.inf if per_hour <= 0 else fen / per_hour * 3600
