"""What people do with work orders (shared by the API and the pages): create, take a step, add a photo. Each call
is one transaction, checks the user's sites and role, and is audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli.contract import NAME_RE, Kind, utcnow
from server.audit import audit
from server.auth import User
from server.db.engine import write_lock
from server.db.models import Device, Event
from server.workorders.flow import STEPS
from server.workorders.models import WorkOrder, WorkOrderPhoto
from server.workorders.service import Sla, WorkOrderError, add_log, fault_of, open_or_repeat, take_step

if TYPE_CHECKING:
    from server.app import Server

PHOTO_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


def photo_dir(srv: Server) -> Path:
    return srv.settings.storage.data_dir / "workorders"


def load_order(s: Session, user: User, order_id: int, lock: bool = False) -> tuple[WorkOrder, Device]:
    """The order and its device, or 404 (also for orders of sites the user does not see)."""
    stmt = select(WorkOrder, Device).join(Device, WorkOrder.device_id == Device.id).where(WorkOrder.id == order_id)
    row = s.execute(stmt.with_for_update(of=WorkOrder) if lock else stmt).first()
    if row is None or not user.sees(row[0].site):
        raise WorkOrderError(404, f"no work order {order_id}")
    return row[0], row[1]


@dataclass(frozen=True)
class Created:
    order_id: int
    new: bool


def create_order(srv: Server, user: User, site: str, kind: str, device: str, fault: str | None,
                 severity: str, note: str | None, event_id: str | None = None) -> Created:
    """A person opens an order (or adds an occurrence to the open one for the same device and fault), e.g. from a
    warning the device did not raise as an alarm. With ``event_id`` the fault comes from that event."""
    ok = NAME_RE.fullmatch(site) and NAME_RE.fullmatch(device) and kind in {k.value for k in Kind}
    with srv.db.session() as s:
        dev = s.execute(select(Device).where(Device.site == site, Device.kind == kind, Device.device == device)
                        ).scalar_one_or_none() if ok and user.sees(site) else None
        if dev is None:
            raise WorkOrderError(404, f"no device {site}/{kind}/{device}")
        at = utcnow()
        if event_id:
            ev = s.get(Event, event_id)
            if ev is None or ev.device_id != dev.id:
                raise WorkOrderError(404, f"no event {event_id} on {site}/{kind}/{device}")
            fault = fault or fault_of(ev.type, ev.data)
            at = ev.ts
        fault = (fault or "").strip()
        if not fault:
            raise WorkOrderError(422, "fault: say what is wrong (or give event_id)")
        if severity not in ("warning", "alarm"):
            raise WorkOrderError(422, "severity must be warning or alarm")
        write_lock(s)  # the savepoint below reads, then writes: hold SQLite's write lock first
        try:
            with s.begin_nested():
                wo, new = open_or_repeat(s, dev.id, dev.site, fault, severity, Sla.of(srv.settings.workorders), at,
                                         by=user.name, event_id=event_id, source="manual", note=note)
                if not new:
                    add_log(s, wo, user.name, "repeat", note=note, event_id=event_id)
                    audit(s, user.name, "workorder.repeat", f"workorder/{wo.id}", "ok", reason=note)
        except IntegrityError:  # ingest opened it in the same instant: count on that one
            wo, _ = open_or_repeat(s, dev.id, dev.site, fault, severity, Sla.of(srv.settings.workorders), at,
                                   by=user.name, event_id=event_id, source="manual", note=note)
            new = False
        return Created(wo.id, new)


def step_order(srv: Server, user: User, order_id: int, step: str, assignee: str | None = None,
               note: str | None = None, reason: str | None = None) -> None:
    try:
        with srv.db.session() as s:
            wo, _ = load_order(s, user, order_id, lock=True)
            take_step(s, wo, step, user, assignee=assignee, note=note, reason=reason)
    except WorkOrderError as exc:
        if exc.status == 403:  # refusals are audited too (in their own transaction: the step's was rolled back)
            with srv.db.session() as s:
                audit(s, user.name, f"workorder.{step}", f"workorder/{order_id}", "denied", role=user.role,
                      reason=exc.message)
        raise


def add_photo(srv: Server, user: User, order_id: int, data: bytes) -> int:
    """Store a handler's photo (JPEG or PNG, checked by its bytes) on an open order; returns the photo id."""
    limit = int(srv.settings.workorders.max_photo_mb * 1024 * 1024)
    if not data:
        raise WorkOrderError(422, "empty photo")
    if len(data) > limit:
        raise WorkOrderError(413, f"photo larger than {srv.settings.workorders.max_photo_mb:g} MB")
    kind = next((v for magic, v in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise WorkOrderError(415, "a photo must be a JPEG or PNG image")
    sha = hashlib.sha256(data).hexdigest()
    with srv.db.session() as s:
        wo, _ = load_order(s, user, order_id, lock=True)
        if wo.state == "closed":
            raise WorkOrderError(409, f"order {order_id} is closed")
        if user.role not in STEPS["note"].roles:
            raise WorkOrderError(403, f"role {user.role} may not add photos")
        folder = photo_dir(srv)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sha}.{kind[1]}"
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        photo = WorkOrderPhoto(order_id=wo.id, sha256=sha, content_type=kind[0], size=len(data),
                               uploaded_by=user.name, uploaded_at=utcnow())
        s.add(photo)
        s.flush()
        add_log(s, wo, user.name, "photo", photo_id=photo.id, sha256=sha)
        audit(s, user.name, "workorder.photo", f"workorder/{wo.id}", "ok", sha256=sha, size=len(data))
        return photo.id


def photo_path(srv: Server, user: User, order_id: int, photo_id: int) -> tuple[Path, str]:
    with srv.db.session() as s:
        load_order(s, user, order_id)
        photo = s.get(WorkOrderPhoto, photo_id)
        if photo is None or photo.order_id != order_id:
            raise WorkOrderError(404, f"no photo {photo_id}")
        ext = "png" if photo.content_type == "image/png" else "jpg"
        return photo_dir(srv) / f"{photo.sha256}.{ext}", photo.content_type
