"""/api/v1/events and /api/v1/blobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.orm import defer

from linli import contract
from linli.contract import SHA256_RE, Kind
from server.api.deps import get_server, require, visible
from server.api.schemas import EventOut, EventPage
from server.auth import User, can_see_plates, can_see_snapshots, mask_data
from server.db.models import Blob, Device, Event

router = APIRouter(prefix="/api/v1", tags=["events"])
Reader = Annotated[User, Depends(require("read"))]


def _private(out: EventOut, user: User) -> EventOut:
    """Plates masked for roles that do not need them (``server.auth.privacy``)."""
    if can_see_plates(user):
        return out
    return out.model_copy(update={"data": mask_data(out.data, user)})


#: ``data`` read as text and parsed here (by the contract's guarded parser), so that one stored payload that cannot
#: be served (nested too deep, numbers JSON cannot carry, not an object) never fails a whole page.
DATA_TEXT = cast(Event.data, Text).label("data_text")


def _servable(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = contract.loads(text.encode())
    except contract.PayloadError as exc:
        return {"unservable": exc.reason}
    return data if isinstance(data, dict) else {"unservable": "malformed"}


def _out(e: Event, d: Device, data_text: str | None, user: User) -> EventOut:
    return _private(EventOut.of(e, d, _servable(data_text)), user)


def _cursor(e: Event) -> str:
    return f"{int(e.ts.timestamp() * 1_000_000)}.{e.id}"


def _parse_cursor(c: str) -> tuple[datetime, str]:
    try:
        us, _, ev_id = c.partition(".")
        return datetime.fromtimestamp(int(us) / 1_000_000, UTC), ev_id
    except (ValueError, OverflowError, OSError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "bad cursor") from None


@router.get("/events", response_model=EventPage, summary="Events, newest first")
def list_events(request: Request, user: Reader,
                site: str | None = None, kind: Kind | None = None, device: str | None = None,
                type: str | None = Query(None, description="exact type, or a prefix ending in * (e.g. gate.*)"),
                severity: Literal["info", "warning", "alarm"] | None = None,
                since: datetime | None = None, until: datetime | None = None,
                limit: int = Query(50, ge=1, le=500),
                cursor: str | None = Query(None, description="next_cursor of the previous page")) -> EventPage:
    stmt = visible(select(Event, Device, DATA_TEXT).options(defer(Event.data))
                   .join(Device, Event.device_id == Device.id), user)
    if site:
        stmt = stmt.where(Device.site == site)
    if kind:
        stmt = stmt.where(Device.kind == kind.value)
    if device:
        stmt = stmt.where(Device.device == device)
    if type:
        if type.endswith("*"):
            prefix = type[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Event.type.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(Event.type == type)
    if severity:
        stmt = stmt.where(Event.severity == severity)
    if since:
        stmt = stmt.where(Event.ts >= since)
    if until:
        stmt = stmt.where(Event.ts < until)
    if cursor:
        c_ts, c_id = _parse_cursor(cursor)
        stmt = stmt.where(or_(Event.ts < c_ts, and_(Event.ts == c_ts, Event.id < c_id)))
    stmt = stmt.order_by(Event.ts.desc(), Event.id.desc()).limit(limit + 1)
    with get_server(request).db.session() as s:
        if device:
            # one device (or the few of that name): its ids first, so that the (device_id, ts) index of every
            # partition gives its newest events at once instead of a walk through everyone's newest events
            conds = [Device.device == device, *([Device.site == site] if site else []),
                     *([Device.kind == kind.value] if kind else [])]
            ids = list(s.scalars(visible(select(Device.id).where(*conds), user)))
            stmt = stmt.where(Event.device_id == ids[0] if len(ids) == 1 else Event.device_id.in_(ids))
        rows = s.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(items=[_out(e, d, text, user) for e, d, text in rows],
                     next_cursor=_cursor(rows[-1][0]) if more and rows else None)


@router.get("/events/{event_id}", response_model=EventOut, summary="One event")
def get_event(request: Request, user: Reader, event_id: str) -> EventOut:
    with get_server(request).db.session() as s:
        row = s.execute(select(Event, Device, DATA_TEXT).options(defer(Event.data))
                        .join(Device, Event.device_id == Device.id).where(Event.id == event_id)).first()
    if row is None or not user.sees(row[1].site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event {event_id}")
    return _out(row[0], row[1], row[2], user)


@router.get("/blobs/{sha256}", response_class=FileResponse, summary="A snapshot (JPEG) by its sha256",
            responses={200: {"content": {"image/jpeg": {}}}, 403: {"description": "role may not see snapshots"},
                       404: {}, 410: {"description": "purged by retention"}})
def get_blob(request: Request, user: Reader, sha256: str) -> FileResponse:
    srv = get_server(request)
    if not SHA256_RE.fullmatch(sha256):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not a sha256")
    with srv.db.session() as s:
        row = s.execute(select(Blob, Device.site).join(Device, Blob.device_id == Device.id)
                        .where(Blob.sha256 == sha256)).first()
    if row is None or not user.sees(row[1]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such snapshot")
    if not can_see_snapshots(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role} may not see snapshots (privacy)")
    if row[0].purged_at is not None:
        raise HTTPException(status.HTTP_410_GONE, "snapshot purged by retention")
    path = srv.snapshots.path(sha256)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "snapshot file missing")
    return FileResponse(path, media_type=row[0].content_type,
                        headers={"Cache-Control": "private, max-age=86400, immutable",
                                 "X-Content-Type-Options": "nosniff"})
