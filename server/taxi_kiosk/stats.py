"""Figures per kiosk and per day: calls, how many got a car, how long residents waited.

- *calls*: orders made (taps and button presses that made an order);
- *success rate*: orders that got a driver ÷ orders decided — ended or assigned, leaving out those the resident
  cancelled before any driver was found (they changed their mind; the system did not fail them);
- *wait for a driver*: tap → a driver accepted; *wait for the car*: tap → the car was close (``arriving``).
Days are Shanghai calendar days; the order's time is its tap on the kiosk.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.i18n import SHANGHAI
from server.api.deps import visible
from server.auth import User
from server.db.models import Device

from .models import ACTIVE, TaxiOrder


@dataclass
class Figures:
    site: str = ""
    device: str = ""
    calls: int = 0
    assigned: int = 0
    picked_up: int = 0
    cancelled: int = 0
    cancelled_early: int = 0  #: by the resident before a driver was found
    no_driver: int = 0
    unavailable: int = 0
    no_show: int = 0
    active: int = 0
    active_unassigned: int = 0  #: still looking for a driver: not decided yet
    wait_driver_s: list[float] = field(default_factory=list)
    wait_car_s: list[float] = field(default_factory=list)

    def add(self, o: TaxiOrder) -> None:
        self.calls += 1
        if o.assigned_at is not None:
            self.assigned += 1
            self.wait_driver_s.append((o.assigned_at - o.requested_at).total_seconds())
        if o.arrived_at is not None:
            self.wait_car_s.append((o.arrived_at - o.requested_at).total_seconds())
        if o.state in ACTIVE:
            self.active += 1
            self.active_unassigned += o.assigned_at is None
        elif o.state == "cancelled":
            self.cancelled += 1
            if o.assigned_at is None and o.cancel_requested in ("resident", "staff", None):
                self.cancelled_early += 1
        elif o.state in ("picked_up", "no_driver", "unavailable", "no_show"):
            setattr(self, o.state, getattr(self, o.state) + 1)

    @property
    def success_rate(self) -> float | None:
        decided = self.calls - self.cancelled_early - self.active_unassigned
        return round(100.0 * self.assigned / decided, 1) if decided > 0 else None

    @property
    def median_wait_driver_s(self) -> float | None:
        return round(statistics.median(self.wait_driver_s), 1) if self.wait_driver_s else None

    @property
    def median_wait_car_s(self) -> float | None:
        return round(statistics.median(self.wait_car_s), 1) if self.wait_car_s else None

    def as_dict(self) -> dict[str, Any]:
        return {"site": self.site, "device": self.device, "calls": self.calls, "assigned": self.assigned,
                "picked_up": self.picked_up, "cancelled": self.cancelled, "cancelled_early": self.cancelled_early,
                "no_driver": self.no_driver, "unavailable": self.unavailable, "no_show": self.no_show,
                "active": self.active, "success_rate_pct": self.success_rate,
                "median_wait_driver_s": self.median_wait_driver_s, "median_wait_car_s": self.median_wait_car_s}


def day_range(days: int, today: date | None = None) -> tuple[date, date, datetime, datetime]:
    """The last ``days`` Shanghai days (today included): first day, last day, and the UTC instants around them."""
    today = today or datetime.now(SHANGHAI).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), SHANGHAI).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)
    return first, today, start, end


def _orders(s: Session, user: User, start: datetime, end: datetime, site: str | None
            ) -> list[tuple[TaxiOrder, str, str]]:
    stmt = (select(TaxiOrder, Device.site, Device.device).join(Device, TaxiOrder.device_id == Device.id)
            .where(TaxiOrder.requested_at >= start, TaxiOrder.requested_at < end))
    if site:
        stmt = stmt.where(Device.site == site)
    return [(o, st, d) for o, st, d in s.execute(visible(stmt, user))]


def kiosk_figures(s: Session, user: User, days: int = 7, site: str | None = None
                  ) -> tuple[Figures, list[Figures]]:
    """All kiosks together, and each kiosk (busiest first), over the last ``days`` days."""
    _, _, start, end = day_range(days)
    total = Figures()
    per: dict[tuple[str, str], Figures] = {}
    for o, st, dev in _orders(s, user, start, end, site):
        total.add(o)
        per.setdefault((st, dev), Figures(site=st, device=dev)).add(o)
    return total, sorted(per.values(), key=lambda f: (-f.calls, f.site, f.device))


def daily_figures(s: Session, user: User, days: int = 7, site: str | None = None) -> list[tuple[date, Figures]]:
    """Every day of the range (oldest first), all kiosks together."""
    first, last, start, end = day_range(days)
    per: dict[date, Figures] = defaultdict(Figures)
    for o, _, _ in _orders(s, user, start, end, site):
        per[o.requested_at.astimezone(SHANGHAI).date()].add(o)
    return [(first + timedelta(days=i), per[first + timedelta(days=i)]) for i in range((last - first).days + 1)]
