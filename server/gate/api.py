"""/api/v1/gate, the routes: lists (residents, visitor passes, blacklist, door cards), tariffs and capacity, door QR
codes, passages and door events (searchable), parking sessions and occupancy, list sync state, and the payment
callback. The reads are in :mod:`server.gate.queries` (the pages share them), the payment handling in
:mod:`server.gate.payments`.

Who may do what: everyone signed in reads (plates and card numbers masked for roles that do not need them, i.e.
maintenance); admins and property managers edit lists, tariffs and issue QR codes (audited). The payment callback
is called by the payment provider, signed with HMAC-SHA256 over the body (``X-Linli-Signature``), idempotent by
``payment_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE, new_id, utcnow
from linli.gate import qr
from linli.gate.fees import Tariff
from linli.gate.plates import PlateError, parse
from server.api.deps import get_server, require
from server.audit import audit
from server.auth import User

from . import lists, payments, queries, worker

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
    worker.kick(get_server(request))


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
        return queries.list_entries(s, user, site, list, q, limit)


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
    return {"token": token, "door": body.door, "expires": expires, "svg": qr.svg(token)}


# ------------------------------------------------------------------------------------------------ reads
@router.get("/passages", summary="Passages, newest first (searchable by plate, time, decision)")
def get_passages(request: Request, user: Reader, site: str | None = None,
                 plate: str | None = Query(None, max_length=32, description="whole or part (not for maintenance)"),
                 since: datetime | None = None, until: datetime | None = None,
                 decision: Literal["open", "deny", "guard", "pay", "manual"] | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        rows = queries.search_passages(s, user, site, plate, since, until, decision, limit)
        return [queries.passage_view(p, user) for p in rows]


@router.get("/door-events", summary="Door access and alarms, newest first")
def get_door_events(request: Request, user: Reader, site: str | None = None, door: str | None = None,
                    since: datetime | None = None, granted: bool | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return queries.door_events(s, user, site, door, since, granted, limit)


@router.get("/sessions", summary="Parking sessions (open ones with the fee due now)")
def get_sessions(request: Request, user: Reader, site: str | None = None,
                 state: Literal["open", "closed"] | None = None, plate: str | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return queries.sessions(s, user, site, state, plate, limit)


@router.get("/sites/{site}/occupancy", summary="Vehicles inside and free temporary spaces")
def get_occupancy(request: Request, user: Reader, site: str) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        return queries.occupancy(s, site)


@router.get("/sites/{site}/sync", summary="The site's list version and each gate's")
def get_sync(request: Request, user: Reader, site: str) -> dict[str, Any]:
    check_site(user, site)
    with get_server(request).db.session() as s:
        return queries.sync_state(s, site)


# ------------------------------------------------------------------------------------------------ payments
@router.post("/payments/callback", summary="Payment provider callback (HMAC-signed, idempotent by payment_id)")
async def payment_callback(request: Request) -> dict[str, Any]:
    srv = get_server(request)
    body = await request.body()
    try:
        pay = payments.verify(srv, body, request.headers.get(payments.SIGNATURE_HEADER, ""))
    except payments.CallbackError as exc:
        raise HTTPException(exc.status_code, exc.detail) from None
    return await run_in_threadpool(payments.apply_payment, srv, pay)
