"""Parking fees for temporary vehicles: free minutes, an hourly rate, a cap per 24 hours. Integer fen (分).

The rule: a stay of up to ``free_minutes`` costs nothing. A longer stay is charged from its start: every started
hour costs ``hourly_cents``, and every 24-hour period costs at most ``daily_cap_cents`` (a stay of 2 days and
3 hours = 2 × cap + min(cap, 3 × hourly)). A negative duration (clocks) counts as zero.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Tariff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    free_minutes: int = Field(30, ge=0, le=24 * 60, title="Free minutes", description="免费时长（分钟）")
    hourly_cents: int = Field(500, ge=0, le=100_000, title="Per started hour (fen)", description="每小时收费（分）")
    daily_cap_cents: int = Field(4000, ge=0, le=1_000_000, title="Cap per 24 h (fen)",
                                 description="每 24 小时封顶（分）")


def fee_cents(tariff: Tariff, entry: datetime, exit: datetime) -> int:
    minutes = max(0.0, (exit - entry).total_seconds() / 60)
    if minutes <= tariff.free_minutes:
        return 0
    days, rest = divmod(minutes, 24 * 60)
    fee = int(days) * tariff.daily_cap_cents
    if rest > 0:
        fee += min(tariff.daily_cap_cents, math.ceil(rest / 60) * tariff.hourly_cents)
    return fee


def yuan(cents: int) -> str:
    return f"{cents / 100:.2f}"
