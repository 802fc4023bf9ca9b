"""Schedule windows: when blocking is enabled (some estates enable it only around the evening peak).

Times are Shanghai wall-clock (no daylight saving). A window whose end is before its start runs past midnight;
its ``days`` are the days it starts on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from linli.i18n import SHANGHAI

from .config import WEEKDAYS, ScheduleConfig


def enabled_at(cfg: ScheduleConfig, now: datetime) -> bool:
    """True when blocking is enabled at ``now`` (an aware datetime, any zone)."""
    if not cfg.windows:
        return True
    local = now.astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    for w in cfg.windows:
        start, end = w.minutes()
        if start == end:
            continue
        if start < end:
            if today in w.days and start <= minute < end:
                return True
        else:  # past midnight: start … 24:00 on a listed day, 00:00 … end on the day after
            if (today in w.days and minute >= start) or (yesterday in w.days and minute < end):
                return True
    return False
