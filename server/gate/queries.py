"""The gate's reads, shared by its API and its pages: list entries, passages, door events, parking sessions,
occupancy and list-sync state; plates and card numbers masked for the roles that do not need them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.contract import utcnow
from linli.gate.fees import Tariff, fee_cents
from linli.gate.plates import PlateError, parse
from server.auth import User, can_see_plates, mask_plate
from server.db.models import Device

from . import lists
from .models import GateDeviceSync, GateDoorEvent, GateListEntry, GatePassage, GateSession


def plate_for(user: User, plate: str | None) -> str | None:
    if plate is None:
        return None
    return plate if can_see_plates(user) else mask_plate(plate)


def card_for(user: User, card: str) -> str:
    return card if can_see_plates(user) else ("*" * max(0, len(card) - 4)) + card[-4:]


def visible_sites(stmt: Any, user: User, column: Any) -> Any:
    return stmt if user.sites is None else stmt.where(column.in_(sorted(user.sites)))


def list_entries(s: Session, user: User, site: str, lst: str | None = None, q: str | None = None,
                 limit: int = 200) -> dict[str, Any]:
    """A site's list entries (all lists, or ``lst``), searched by key or label, with the site's list version."""
    st = lists.get_site(s, site)
    stmt = select(GateListEntry).where(GateListEntry.site == site, GateListEntry.deleted.is_(False))
    if lst:
        stmt = stmt.where(GateListEntry.list == lst)
    if q:
        term = q.strip().upper()
        stmt = stmt.where((GateListEntry.key.contains(term)) | (GateListEntry.label.contains(q.strip())))
    rows = [lists.entry_view(r) for r in s.scalars(stmt.order_by(GateListEntry.list, GateListEntry.key)
                                                    .limit(limit))]
    for r in rows:
        r["plate"] = plate_for(user, r["plate"])
        if r["list"] in ("resident", "blacklist"):
            r["key"] = plate_for(user, r["key"])
        elif r["list"] == "card":
            r["key"] = card_for(user, r["key"])
    return {"site": site, "version": st.version, "entries": rows}


def passage_view(p: GatePassage, user: User) -> dict[str, Any]:
    return {"event_id": p.event_id, "site": p.site, "lane": p.lane, "direction": p.direction, "at": p.at,
            "plate": plate_for(user, p.plate), "colour": p.colour, "source": p.source, "decision": p.decision,
            "reason": p.reason, "category": p.category, "match": p.match, "opened": p.opened,
            "session_id": p.session_id, "fee_cents": p.fee_cents, "offline_replay": p.offline_replay, "by": p.by,
            "note": p.note,
            "image": f"/api/v1/blobs/{p.blob}" if p.blob and can_see_plates(user) else None}


def search_passages(s: Session, user: User, site: str | None = None, plate: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, decision: str | None = None,
                    limit: int = 100) -> list[GatePassage]:
    stmt = visible_sites(select(GatePassage), user, GatePassage.site)
    if site:
        stmt = stmt.where(GatePassage.site == site)
    if plate and can_see_plates(user):
        term = "".join(plate.split()).upper()
        try:
            term = parse(plate).text or term
        except PlateError:
            pass
        stmt = stmt.where(GatePassage.plate.contains(term))
    if since:
        stmt = stmt.where(GatePassage.at >= since)
    if until:
        stmt = stmt.where(GatePassage.at < until)
    if decision:
        stmt = stmt.where(GatePassage.decision == decision)
    return list(s.scalars(stmt.order_by(GatePassage.at.desc(), GatePassage.event_id.desc()).limit(limit)))


def door_events(s: Session, user: User, site: str | None = None, door: str | None = None,
                since: datetime | None = None, granted: bool | None = None, limit: int = 100) -> list[dict[str, Any]]:
    stmt = visible_sites(select(GateDoorEvent), user, GateDoorEvent.site)
    if site:
        stmt = stmt.where(GateDoorEvent.site == site)
    if door:
        stmt = stmt.where(GateDoorEvent.door == door)
    if since:
        stmt = stmt.where(GateDoorEvent.at >= since)
    if granted is not None:
        stmt = stmt.where(GateDoorEvent.granted.is_(granted))
    rows = s.scalars(stmt.order_by(GateDoorEvent.at.desc()).limit(limit))
    return [{"event_id": r.event_id, "site": r.site, "door": r.door, "type": r.type, "at": r.at,
             "method": r.method, "credential": r.credential, "granted": r.granted, "reason": r.reason,
             "label": r.label if can_see_plates(user) else None} for r in rows]


def session_view(r: GateSession, user: User, tariff: Tariff | None = None) -> dict[str, Any]:
    due = None
    if r.state == "open" and r.category == "temporary" and tariff is not None and r.entry_at is not None:
        due = max(0, fee_cents(tariff, r.entry_at, utcnow()) - (r.paid_cents or 0))
    return {"id": r.id, "site": r.site, "plate": plate_for(user, r.plate), "category": r.category,
            "entry_at": r.entry_at, "exit_at": r.exit_at, "fee_cents": r.fee_cents, "paid_cents": r.paid_cents,
            "state": r.state, "due_now_cents": due}


def sessions(s: Session, user: User, site: str | None = None, state: str | None = None, plate: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
    """Parking sessions, newest first; open temporary ones with the fee due now."""
    stmt = visible_sites(select(GateSession), user, GateSession.site)
    if site:
        stmt = stmt.where(GateSession.site == site)
    if state:
        stmt = stmt.where(GateSession.state == state)
    if plate and can_see_plates(user):
        stmt = stmt.where(GateSession.plate == "".join(plate.split()).upper())
    rows = list(s.scalars(stmt.order_by(GateSession.entry_at.desc()).limit(limit)))
    tariffs = {r.site: lists.site_settings(lists.get_site(s, r.site)).tariff for r in rows}
    return [session_view(r, user, tariffs.get(r.site)) for r in rows]


def occupancy(s: Session, site: str) -> dict[str, Any]:
    rows = s.execute(select(GateSession.category, func.count()).where(GateSession.site == site,
                                                                     GateSession.state == "open")
                     .group_by(GateSession.category)).all()
    inside = {str(k): int(n) for k, n in rows}
    st = lists.get_site(s, site)
    cap = int(st.settings.get("capacity_temporary", 0))
    return {"site": site, "inside": inside, "inside_total": sum(inside.values()), "capacity_temporary": cap,
            "free_temporary": max(0, cap - inside.get("temporary", 0))}


def sync_state(s: Session, site: str) -> dict[str, Any]:
    st = lists.get_site(s, site)
    devs = s.execute(select(Device, GateDeviceSync).outerjoin(GateDeviceSync, GateDeviceSync.device_id == Device.id)
                     .where(Device.site == site, Device.kind == "gate").order_by(Device.device)).all()
    return {"site": site, "version": st.version, "devices": [
        {"device": d.device, "state": d.state,
         "version": (g.reported_version if g and g.reported_version is not None else (d.gauges or {}).get(
             "lists_version")),
         "reported_at": g.reported_at if g else None, "sent_version": g.sent_version if g else None}
        for d, g in devs]}
