"""Queries shared by the lift guard's API, pages and dashboard panels; every one keeps to the user's sites."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from linli.contract import Kind, utcnow
from linli.i18n import SHANGHAI
from server.api.deps import visible
from server.auth import User
from server.db.models import Blob, Device

from .models import LiftBlock, LiftFault, LiftPause

KIND = Kind.lift_guard.value


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def day_range(days: int, until: date | None = None) -> list[str]:
    end = until or today()
    return [(end - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


def lifts(s: Session, user: User, site: str | None = None) -> list[Device]:
    stmt = visible(select(Device).where(Device.kind == KIND), user).order_by(Device.site, Device.device)
    if site:
        stmt = stmt.where(Device.site == site)
    return list(s.scalars(stmt))


@dataclass
class DayFigures:
    blocks: int = 0
    staff_releases: int = 0
    max_hold: int = 0
    faults: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"blocks": self.blocks, "staff_releases": self.staff_releases, "max_hold": self.max_hold,
                "faults": self.faults}


@dataclass
class LiftFigures:
    device: Device
    days: dict[str, DayFigures] = field(default_factory=dict)
    open_faults: list[LiftFault] = field(default_factory=list)
    last_block: LiftBlock | None = None
    pause: LiftPause | None = None

    def total(self) -> DayFigures:
        t = DayFigures()
        for d in self.days.values():
            t.blocks += d.blocks
            t.staff_releases += d.staff_releases
            t.max_hold += d.max_hold
            t.faults += d.faults
        return t


def figures(s: Session, user: User, days: list[str], site: str | None = None) -> list[LiftFigures]:
    """Per lift: blocks, staff (false-alarm) releases, longest-hold alarms and faults per Shanghai day."""
    devs = lifts(s, user, site)
    out = {d.id: LiftFigures(d, {day: DayFigures() for day in days}) for d in devs}
    if not out:
        return []
    ids = list(out)
    rows = s.execute(select(LiftBlock.device_id, LiftBlock.day, func.count(),
                            func.sum(cast(LiftBlock.staff_release, Integer)),
                            func.sum(cast(LiftBlock.alarm, Integer)))
                     .where(LiftBlock.device_id.in_(ids), LiftBlock.day.in_(days))
                     .group_by(LiftBlock.device_id, LiftBlock.day))
    for dev_id, day, n, staff, alarm in rows:
        f = out[dev_id].days[day]
        f.blocks, f.staff_releases, f.max_hold = int(n), int(staff or 0), int(alarm or 0)
    start = datetime.fromisoformat(days[0]).replace(tzinfo=SHANGHAI)
    for dev_id, at in s.execute(select(LiftFault.device_id, LiftFault.started_at)
                                .where(LiftFault.device_id.in_(ids), LiftFault.started_at >= start)):
        day = at.astimezone(SHANGHAI).date().isoformat()
        if day in out[dev_id].days:
            out[dev_id].days[day].faults += 1
    for f in s.scalars(select(LiftFault).where(LiftFault.device_id.in_(ids), LiftFault.cleared_at.is_(None))
                       .order_by(LiftFault.started_at)):
        out[f.device_id].open_faults.append(f)
    now = utcnow()
    for p in s.scalars(select(LiftPause).where(LiftPause.device_id.in_(ids), LiftPause.ended_at.is_(None),
                                               LiftPause.until > now)):
        out[p.device_id].pause = p
    for dev_id in ids:
        out[dev_id].last_block = s.scalars(select(LiftBlock).where(LiftBlock.device_id == dev_id)
                                           .order_by(LiftBlock.started_at.desc()).limit(1)).first()
    return list(out.values())


def blocks(s: Session, user: User, site: str | None = None, device: str | None = None,
           since: datetime | None = None, until: datetime | None = None, staff_only: bool = False,
           limit: int = 50, before: str | None = None) -> list[tuple[LiftBlock, Device]]:
    stmt = visible(select(LiftBlock, Device).join(Device, LiftBlock.device_id == Device.id), user)
    if site:
        stmt = stmt.where(Device.site == site)
    if device:
        stmt = stmt.where(Device.device == device)
    if since:
        stmt = stmt.where(LiftBlock.started_at >= since)
    if until:
        stmt = stmt.where(LiftBlock.started_at < until)
    if staff_only:
        stmt = stmt.where(LiftBlock.staff_release.is_(True))
    if before:
        stmt = stmt.where(LiftBlock.block_id < before)
    stmt = stmt.order_by(LiftBlock.block_id.desc()).limit(limit)
    return [(b, d) for b, d in s.execute(stmt).all()]


def faults(s: Session, user: User, site: str | None = None, device: str | None = None, open_only: bool = False,
           limit: int = 100) -> list[tuple[LiftFault, Device]]:
    stmt = visible(select(LiftFault, Device).join(Device, LiftFault.device_id == Device.id), user)
    if site:
        stmt = stmt.where(Device.site == site)
    if device:
        stmt = stmt.where(Device.device == device)
    if open_only:
        stmt = stmt.where(LiftFault.cleared_at.is_(None))
    return [(f, d) for f, d in s.execute(stmt.order_by(LiftFault.started_at.desc()).limit(limit)).all()]


def pauses(s: Session, device_id: int, limit: int = 20) -> list[LiftPause]:
    return list(s.scalars(select(LiftPause).where(LiftPause.device_id == device_id)
                          .order_by(LiftPause.at.desc()).limit(limit)))


def snapshot_states(s: Session, shas: list[str | None]) -> dict[str, str]:
    """sha → ``available`` | ``purged`` (retention) | ``pending`` (not arrived yet)."""
    want = sorted({x for x in shas if x})
    if not want:
        return {}
    found = {sha: purged for sha, purged in s.execute(select(Blob.sha256, Blob.purged_at)
                                                       .where(Blob.sha256.in_(want)))}
    return {sha: ("pending" if sha not in found else "purged" if found[sha] is not None else "available")
            for sha in want}


def per_day_counts(items: list[LiftFigures], days: list[str]) -> dict[str, dict[str, int]]:
    """day → totals over the lifts (for charts and CSV)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: DayFigures().as_dict())
    for f in items:
        for day in days:
            d = f.days[day]
            t = out[day]
            for k, v in d.as_dict().items():
                t[k] += v
    return {day: out[day] for day in days}
