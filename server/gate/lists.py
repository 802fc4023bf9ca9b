"""The lists of a site and their versions: every change takes the site's next version; a gate's delta is the rows
above its version (tombstones included), cut into commands of at most N entries at version boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.contract import utcnow
from linli.contract.gate import GateSettings, ListEntry, ListsSyncArgs
from linli.gate import qr
from linli.gate.fees import Tariff

from .models import GateListEntry, GateSite

LISTS = ("resident", "visitor", "blacklist", "card")


def get_site(s: Session, site: str, lock: bool = False) -> GateSite:
    """The site's gate row (made on first use, with a fresh QR signing key)."""
    stmt = select(GateSite).where(GateSite.site == site)
    if lock:
        stmt = stmt.with_for_update()
    row = s.execute(stmt).scalar_one_or_none()
    if row is None:
        row = GateSite(site=site, version=0, settings=GateSettings().model_dump(mode="json", exclude={"qr_keys"}),
                       settings_version=0, qr_kid="k1", qr_key=qr.new_key(), updated_at=utcnow())
        s.add(row)
        s.flush()
        if lock:
            row = s.execute(stmt).scalar_one()
    return row


def _bump(s: Session, site: str) -> tuple[GateSite, int]:
    row = get_site(s, site, lock=True)
    row.version += 1
    row.updated_at = utcnow()
    return row, row.version


def upsert(s: Session, site: str, lst: str, key: str, by: str, *, plate: str | None = None,
           valid_from: datetime | None = None, valid_to: datetime | None = None, label: str = "",
           note: str = "") -> GateListEntry:
    _, version = _bump(s, site)
    row = s.execute(select(GateListEntry).where(GateListEntry.site == site, GateListEntry.list == lst,
                                                GateListEntry.key == key)).scalar_one_or_none()
    if row is None:
        row = GateListEntry(site=site, list=lst, key=key)
        s.add(row)
    row.plate, row.valid_from, row.valid_to, row.label, row.note = plate, valid_from, valid_to, label, note
    row.version, row.deleted, row.updated_at, row.updated_by = version, False, utcnow(), by
    s.flush()
    return row


def delete(s: Session, site: str, lst: str, key: str, by: str) -> GateListEntry | None:
    row = s.execute(select(GateListEntry).where(GateListEntry.site == site, GateListEntry.list == lst,
                                                GateListEntry.key == key, GateListEntry.deleted.is_(False))
                    ).scalar_one_or_none()
    if row is None:
        return None
    _, version = _bump(s, site)
    row.deleted, row.version, row.updated_at, row.updated_by = True, version, utcnow(), by
    return row


def set_settings(s: Session, site: str, tariff: Tariff, capacity_temporary: int) -> GateSite:
    row, version = _bump(s, site)
    row.settings = {"tariff": tariff.model_dump(mode="json"), "capacity_temporary": capacity_temporary}
    row.settings_version = version
    return row


def site_settings(row: GateSite) -> GateSettings:
    return GateSettings.model_validate({**row.settings, "qr_keys": {row.qr_kid: row.qr_key}})


@dataclass
class Delta:
    args: ListsSyncArgs
    complete: bool  # True when it reaches the site's version


def delta(s: Session, site: str, have: int, limit: int) -> Delta | None:
    """What a gate at version ``have`` needs next (None when it is up to date). A gate ahead of the server (the
    database was restored) gets everything again with ``reset``."""
    row = get_site(s, site)
    if have == row.version:
        return None
    reset = have > row.version
    base = 0 if reset else have
    stmt = select(GateListEntry).where(GateListEntry.site == site, GateListEntry.version > base)
    if reset:
        stmt = stmt.where(GateListEntry.deleted.is_(False))
    rows = list(s.scalars(stmt.order_by(GateListEntry.version).limit(limit + 1)))
    complete = len(rows) <= limit
    rows = rows[:limit]
    to = row.version if complete else rows[-1].version
    upserts = [ListEntry(list=r.list, key=r.key, plate=r.plate, valid_from=r.valid_from, valid_to=r.valid_to,  # type: ignore[arg-type]
                         label=r.label) for r in rows if not r.deleted]
    deletes = [(r.list, r.key) for r in rows if r.deleted]
    settings = site_settings(row) if (reset or row.settings_version > base or base == 0) else None
    return Delta(ListsSyncArgs(base_version=base, version=to, reset=reset, upserts=upserts, deletes=deletes,  # type: ignore[arg-type]
                               settings=settings), complete)


def counts(s: Session, site: str) -> dict[str, int]:
    rows = s.execute(select(GateListEntry.list, func.count()).where(GateListEntry.site == site,
                                                                   GateListEntry.deleted.is_(False))
                     .group_by(GateListEntry.list)).all()
    return {str(k): int(n) for k, n in rows}


def entry_view(r: GateListEntry) -> dict[str, Any]:
    return {"list": r.list, "key": r.key, "plate": r.plate, "valid_from": r.valid_from, "valid_to": r.valid_to,
            "label": r.label, "note": r.note, "version": r.version, "updated_at": r.updated_at,
            "updated_by": r.updated_by}
