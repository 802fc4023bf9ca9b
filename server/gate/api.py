"""/api/v1/gate: lists (residents, visitor passes, blacklist, door cards), tariffs and capacity, door QR codes,
passages and door events (searchable), parking sessions and occupancy, list sync state, and the payment callback.

Who may do what: everyone signed in reads (plates and card numbers masked for roles that do not need them, i.e.
maintenance); admins and property managers edit lists, tariffs and issue QR codes (audited). The payment callback
is called by the payment provider, signed with HMAC-SHA256 over the body (``X-Linli-Signature``), idempotent by
``payment_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.contract import NAME_RE, new_id, utcnow
from linli.gate import qr
from linli.gate.fees import Tariff, fee_cents
from linli.gate.plates import PlateError, parse
from server.api.deps import get_server, require
from server.audit import audit
from server.auth import User, can_see_plates, mask_plate
from server.commands import send_command
from server.db.models import Device

from . import lists
from .models import GateDeviceSync, GateDoorEvent, GateListEntry, GatePassage, GatePayment, GateSession
from .settings import gate_settings

if TYPE_CHECKING:
    from server.app import Server

router = APIRouter(prefix="/api/v1/gate", tags=["gate"])
Reader = Annotated[User, Depends(require("read"))]
EDITORS = frozenset({"admin", "manager"})


def may_edit(user: User) -> bool:
    return user.role in EDITORS


def editor(request: Request, user: User, action: str, site: str) -> None:
    """Only admins and property managers change lists; refusals are audited."""
    if not may_edit(user):
        with get_server(request).db.session() as s:
            audit(s, user.name, action, f"gate/{site}", "denied", role=user.role)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role} may not change gate lists")


def check_site(user: User, site: str) -> str:
    if not NAME_RE.fullmatch(site) or not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    return site


def kick(request: Request) -> None:
    svc = getattr(get_server(request), "gate_sync", None)
    if svc is not None:
        svc.kick()


def plate_for(user: User, plate: str | None) -> str | None:
    if plate is None:
        return None
    return plate if can_see_plates(user) else mask_plate(plate)


def card_for(user: User, card: str) -> str:
    return card if can_see_plates(user) else ("*" * max(0, len(card) - 4)) + card[-4:]


# ------------------------------------------------------------------------------------------------ schemas
class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlateIn(_In):
    plate: str = Field(min_length=1, max_length=32, examples=["沪A12345"])

    @field_validator("plate")
    @classmethod
    def _valid(cls, v: str) -> str:
        try:
            p = parse(v)
        except PlateError as exc:
            raise ValueError(str(exc)) from None
        if p.is_none:
            raise ValueError("a list entry needs a plate")
        return p.text


class Window(_In):
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @model_validator(mode="after")
    def _order(self) -> Window:
        for name in ("valid_from", "valid_to"):
            v = getattr(self, name)
            if v is not None and v.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. 2026-12-01T08:00:00+08:00)")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class VehicleIn(PlateIn, Window):
    label: str = Field("", max_length=64, description="owner / unit, e.g. 3号楼 201")
    note: str = Field("", max_length=200)


class VisitorIn(PlateIn, Window):
    valid_from: datetime
    valid_to: datetime
    label: str = Field("", max_length=64, description="visitor and host unit")


class BlacklistIn(PlateIn):
    reason: str = Field(min_length=1, max_length=64)


class CardIn(Window):
    card: str = Field(pattern=r"^[0-9]{1,20}$", description="card number in decimal")
    label: str = Field("", max_length=64)

    @field_validator("card")
    @classmethod
    def _strip(cls, v: str) -> str:
        return str(int(v))


class SettingsIn(_In):
    tariff: Tariff
    capacity_temporary: int = Field(ge=0, le=100_000)


class QrIn(_In):
    door: str = Field("*", pattern=r"^[a-z0-9_*-]{1,48}$")
    minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    label: str = Field("", max_length=64, description="for whom (kept in the audit log)")


class PaymentIn(_In):
    payment_id: str = Field(min_length=1, max_length=64)
    site: str
    session_id: str | None = Field(None, max_length=64)
    plate: str | None = Field(None, max_length=32)
    amount_cents: int = Field(ge=0, le=10_000_000)
    paid_at: datetime | None = None


# ------------------------------------------------------------------------------------------------ lists
def _add(request: Request, user: User, site: str, lst: str, key: str, action: str, **kw: Any) -> dict[str, Any]:
    srv = get_server(request)
    with srv.db.session() as s:
        row = lists.upsert(s, site, lst, key, user.name, **kw)
        audit(s, user.name, action, f"gate/{site}/{lst}/{key}", "ok", version=row.version)
        out = lists.entry_view(row)
    kick(request)
    return out


@router.get("/sites/{site}/lists", summary="List entries of a site (plates masked for maintenance)")
def get_lists(request: Request, user: Reader, site: str, list: Literal["resident", "visitor", "blacklist", "card"]
              | None = None, q: str | None = Query(None, max_length=32), limit: int = Query(200, ge=1, le=2000)
              ) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        st = lists.get_site(s, site)
        stmt = select(GateListEntry).where(GateListEntry.site == site, GateListEntry.deleted.is_(False))
        if list:
            stmt = stmt.where(GateListEntry.list == list)
        if q:
            term = q.strip().upper()
            stmt = stmt.where((GateListEntry.key.contains(term)) | (GateListEntry.label.contains(q.strip())))
        rows = [lists.entry_view(r) for r in s.scalars(stmt.order_by(GateListEntry.list, GateListEntry.key)
                                                        .limit(limit))]
        version = st.version
    for r in rows:
        r["plate"] = plate_for(user, r["plate"])
        if r["list"] in ("resident", "blacklist"):
            r["key"] = plate_for(user, r["key"])
        elif r["list"] == "card":
            r["key"] = card_for(user, r["key"])
    return {"site": site, "version": version, "entries": rows}


@router.post("/sites/{site}/vehicles", status_code=201, summary="Add or change a resident's vehicle")
def add_vehicle(request: Request, user: Reader, site: str, body: VehicleIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.vehicle", site)
    return _add(request, user, site, "resident", body.plate, "gate.vehicle", plate=body.plate,
                valid_from=body.valid_from, valid_to=body.valid_to, label=body.label, note=body.note)


@router.post("/sites/{site}/visitors", status_code=201, summary="Register a visitor pass (time window)")
def add_visitor(request: Request, user: Reader, site: str, body: VisitorIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.visitor", site)
    return _add(request, user, site, "visitor", f"v{new_id()[-12:]}", "gate.visitor", plate=body.plate,
                valid_from=body.valid_from, valid_to=body.valid_to, label=body.label)


@router.post("/sites/{site}/blacklist", status_code=201, summary="Put a plate on the blacklist")
def add_blacklist(request: Request, user: Reader, site: str, body: BlacklistIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.blacklist", site)
    return _add(request, user, site, "blacklist", body.plate, "gate.blacklist", plate=body.plate, label=body.reason)


@router.post("/sites/{site}/cards", status_code=201, summary="Add or change a door card")
def add_card(request: Request, user: Reader, site: str, body: CardIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.card", site)
    return _add(request, user, site, "card", body.card, "gate.card", valid_from=body.valid_from,
                valid_to=body.valid_to, label=body.label)


@router.delete("/sites/{site}/lists/{lst}/{key}", summary="Remove an entry (the gates drop it at their next sync)")
def remove_entry(request: Request, user: Reader, site: str, lst: Literal["resident", "visitor", "blacklist", "card"],
                 key: str) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.remove", site)
    if lst in ("resident", "blacklist"):
        try:
            key = parse(key).text
        except PlateError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    with get_server(request).db.session() as s:
        row = lists.delete(s, site, lst, key, user.name)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {lst} entry {key}")
        audit(s, user.name, "gate.remove", f"gate/{site}/{lst}/{key}", "ok", version=row.version)
        version = row.version
    kick(request)
    return {"removed": key, "version": version}


@router.get("/sites/{site}/settings", summary="Tariff, capacity and list version of a site")
def get_settings(request: Request, user: Reader, site: str) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        row = lists.get_site(s, site)
        return {"site": site, "version": row.version, **row.settings, "counts": lists.counts(s, site)}


@router.put("/sites/{site}/settings", summary="Set the tariff and the spaces for temporary vehicles")
def put_settings(request: Request, user: Reader, site: str, body: SettingsIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.settings", site)
    with get_server(request).db.session() as s:
        row = lists.set_settings(s, site, body.tariff, body.capacity_temporary)
        audit(s, user.name, "gate.settings", f"gate/{site}", "ok", **body.model_dump(mode="json"))
        out = {"site": site, "version": row.version, **row.settings}
    kick(request)
    return out


@router.post("/sites/{site}/qr", status_code=201, summary="Issue a door QR code (signed; gates check it offline)")
def issue_qr(request: Request, user: Reader, site: str, body: QrIn) -> dict[str, Any]:
    check_site(user, site)
    editor(request, user, "gate.qr", site)
    expires = utcnow() + timedelta(minutes=body.minutes)
    with get_server(request).db.session() as s:
        row = lists.get_site(s, site)
        token = qr.issue(site, body.door, row.qr_kid, row.qr_key, expires)
        audit(s, user.name, "gate.qr", f"gate/{site}/{body.door}", "ok", label=body.label,
              expires=expires.isoformat())
    return {"token": token, "door": body.door, "expires": expires, "svg": qr_svg(token)}


def qr_svg(token: str) -> str | None:
    """The QR code as inline SVG (segno), or None where segno is not installed."""
    try:
        import segno
    except ImportError:
        return None
    import io

    buf = io.BytesIO()
    segno.make(token, error="m").save(buf, kind="svg", scale=4, xmldecl=False, svgns=True)
    return buf.getvalue().decode()


# ------------------------------------------------------------------------------------------------ reads
def _visible_sites(stmt: Any, user: User, column: Any) -> Any:
    return stmt if user.sites is None else stmt.where(column.in_(sorted(user.sites)))


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
    stmt = _visible_sites(select(GatePassage), user, GatePassage.site)
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


@router.get("/passages", summary="Passages, newest first (searchable by plate, time, decision)")
def get_passages(request: Request, user: Reader, site: str | None = None,
                 plate: str | None = Query(None, max_length=32, description="whole or part (not for maintenance)"),
                 since: datetime | None = None, until: datetime | None = None,
                 decision: Literal["open", "deny", "guard", "pay", "manual"] | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        rows = search_passages(s, user, site, plate, since, until, decision, limit)
        return [passage_view(p, user) for p in rows]


@router.get("/door-events", summary="Door access and alarms, newest first")
def get_door_events(request: Request, user: Reader, site: str | None = None, door: str | None = None,
                    since: datetime | None = None, granted: bool | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        stmt = _visible_sites(select(GateDoorEvent), user, GateDoorEvent.site)
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


@router.get("/sessions", summary="Parking sessions (open ones with the fee due now)")
def get_sessions(request: Request, user: Reader, site: str | None = None,
                 state: Literal["open", "closed"] | None = None, plate: str | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        stmt = _visible_sites(select(GateSession), user, GateSession.site)
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


@router.get("/sites/{site}/occupancy", summary="Vehicles inside and free temporary spaces")
def get_occupancy(request: Request, user: Reader, site: str) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        return occupancy(s, site)


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


@router.get("/sites/{site}/sync", summary="The site's list version and each gate's")
def get_sync(request: Request, user: Reader, site: str) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        return sync_state(s, site)


# ------------------------------------------------------------------------------------------------ payments
@router.post("/payments/callback", summary="Payment provider callback (HMAC-signed, idempotent by payment_id)")
async def payment_callback(request: Request) -> dict[str, Any]:
    srv = get_server(request)
    secret = gate_settings(srv.settings.kinds).secret()
    body = await request.body()
    if secret is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "payment callbacks are not configured "
                                                                 "(kinds.gate.payment_secret)")
    want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("x-linli-signature", ""), want):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing X-Linli-Signature")
    try:
        pay = PaymentIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad payment: {str(exc)[:300]}") from None
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(apply_payment, srv, pay)


def apply_payment(srv: Server, pay: PaymentIn, by: str = "payment-callback") -> dict[str, Any]:
    """Record an online payment of a parking session (idempotent by ``payment_id``) and, when the car waits at
    an exit, send ``session_paid`` so the gate opens. Used by the provider's callback and by the residents' exit
    page (:mod:`server.resident`), which pays through :mod:`server.payments`."""
    cfg = gate_settings(srv.settings.kinds)
    now = utcnow()
    with srv.db.session() as s:
        old = s.get(GatePayment, pay.payment_id)
        if old is not None:
            return {"payment_id": old.payment_id, "state": old.state, "duplicate": True}
        sess = s.get(GateSession, pay.session_id) if pay.session_id else None
        if sess is None and pay.plate:
            try:
                plate = parse(pay.plate).text
            except PlateError:
                plate = None
            if plate:
                sess = s.execute(select(GateSession).where(GateSession.site == pay.site, GateSession.plate == plate,
                                                           GateSession.state == "open")
                                 .order_by(GateSession.entry_at.desc()).limit(1)).scalar_one_or_none()
        state = "unmatched" if sess is None else ("late" if sess.state == "closed" else "applied")
        row = GatePayment(payment_id=pay.payment_id, site=pay.site, session_id=sess.id if sess else pay.session_id,
                          plate=sess.plate if sess else None, amount_cents=pay.amount_cents, method="online",
                          at=pay.paid_at or now, received_at=now, state=state,
                          device_id=sess.device_id if sess else None)
        s.add(row)
        if sess is not None:
            sess.paid_cents = (sess.paid_cents or 0) + pay.amount_cents
        audit(s, by, "gate.payment", f"gate/{pay.site}", "ok" if sess else "error",
              payment_id=pay.payment_id, state=state, amount_cents=pay.amount_cents)
        dev = s.get(Device, sess.device_id) if sess is not None and state == "applied" else None
        sid, plate_txt = (sess.id, sess.plate) if sess else (None, None)
        if dev is not None:
            s.expunge(dev)
    command_id = None
    if dev is not None:
        args = {"session_id": sid, "plate": plate_txt, "amount_cents": pay.amount_cents,
                "payment_id": pay.payment_id, "method": "online"}
        command_id = send_command(srv.db, srv.link, dev, "session_paid", args, cfg.command_ttl_s, by,
                                  srv.settings.commands.publish_wait_s).command.id
    return {"payment_id": pay.payment_id, "state": state, "session_id": sid, "duplicate": False,
            "command_id": command_id}
