"""/api/v1/workorders…: list, read, create, life-cycle steps, photos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE, Kind, utcnow
from server.api.deps import get_server, require
from server.auth import User
from server.db.models import Device
from server.workorders.actions import add_photo, create_order, load_order, photo_path, step_order
from server.workorders.flow import OPEN_STATES, STATES, STEPS, allowed_steps
from server.workorders.models import WorkOrder, WorkOrderLog, WorkOrderPhoto
from server.workorders.service import WorkOrderError, overdue, overdue_clause, visible_orders

router = APIRouter(prefix="/api/v1", tags=["work orders"])
Reader = Annotated[User, Depends(require("read"))]
OrderId = Annotated[int, Path(ge=1, le=2**31 - 1)]
StepName = Literal["dispatch", "handle", "verify", "reject", "close", "cancel", "note", "acknowledge", "clear"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkOrderIn(_In):
    site: str = Field(pattern=NAME_RE.pattern, max_length=48)
    kind: Kind
    device: str = Field(pattern=NAME_RE.pattern, max_length=48)
    fault: str | None = Field(None, min_length=1, max_length=96,
                              description="what is wrong; default: the event's fault when event_id is given")
    severity: Literal["warning", "alarm"] = "warning"
    note: str | None = Field(None, max_length=2000)
    event_id: str | None = Field(None, min_length=1, max_length=26, description="the event this order is about")


class StepIn(_In):
    assignee: str | None = Field(None, max_length=64, description="dispatch: who does the work")
    note: str | None = Field(None, max_length=4000, description="handle / note: what was done or seen")
    reason: str | None = Field(None, max_length=2000, description="reject / cancel: why")


class LogOut(BaseModel):
    at: datetime
    who: str
    action: str
    state: str
    detail: dict[str, Any]


class PhotoOut(BaseModel):
    id: int
    url: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime


class WorkOrderOut(BaseModel):
    id: int
    site: str
    kind: str
    device: str
    fault: str
    severity: str
    state: str
    source: str
    occurrences: int
    created_at: datetime
    created_by: str
    last_seen_at: datetime
    respond_by: datetime
    fix_by: datetime
    assignee: str | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    recovered_at: datetime | None
    note: str | None
    first_event_id: str | None
    last_event_id: str | None
    overdue: list[str] = Field(description="missed SLA deadlines: respond, fix")
    steps: list[str] = Field(description="steps you may take now")

    @classmethod
    def of(cls, wo: WorkOrder, dev: Device, user: User) -> WorkOrderOut:
        return cls(id=wo.id, site=wo.site, kind=dev.kind, device=dev.device, fault=wo.fault, severity=wo.severity,
                   state=wo.state, source=wo.source, occurrences=wo.occurrences, created_at=wo.created_at,
                   created_by=wo.created_by, last_seen_at=wo.last_seen_at, respond_by=wo.respond_by,
                   fix_by=wo.fix_by, assignee=wo.assignee, dispatched_at=wo.dispatched_at,
                   handled_at=wo.handled_at, verified_at=wo.verified_at, closed_at=wo.closed_at,
                   escalated_at=wo.escalated_at, recovered_at=wo.recovered_at, note=wo.note,
                   first_event_id=wo.first_event_id, last_event_id=wo.last_event_id, overdue=overdue(wo),
                   steps=allowed_steps(wo.state, user, wo.assignee))


class WorkOrderDetail(WorkOrderOut):
    log: list[LogOut]
    photos: list[PhotoOut]


def _http(exc: WorkOrderError) -> HTTPException:
    return HTTPException(exc.status, exc.message)


def order_detail(request: Request, user: User, order_id: int) -> WorkOrderDetail:
    with get_server(request).db.session() as s:
        try:
            wo, dev = load_order(s, user, order_id)
        except WorkOrderError as exc:
            raise _http(exc) from None
        logs = s.scalars(select(WorkOrderLog).where(WorkOrderLog.order_id == wo.id).order_by(WorkOrderLog.id))
        photos = s.scalars(select(WorkOrderPhoto).where(WorkOrderPhoto.order_id == wo.id)
                           .order_by(WorkOrderPhoto.id))
        base = WorkOrderOut.of(wo, dev, user)
        return WorkOrderDetail(
            **base.model_dump(),
            log=[LogOut(at=lg.at, who=lg.who, action=lg.action, state=lg.state, detail=lg.detail) for lg in logs],
            photos=[PhotoOut(id=p.id, url=f"/api/v1/workorders/{wo.id}/photos/{p.id}", content_type=p.content_type,
                             size=p.size, uploaded_by=p.uploaded_by, uploaded_at=p.uploaded_at) for p in photos])


def query_orders(user: User, state: str = "open", site: str | None = None, overdue_only: bool = False,
                 assignee: str | None = None, device_id: int | None = None) -> Any:
    stmt = visible_orders(select(WorkOrder, Device).join(Device, WorkOrder.device_id == Device.id), user)
    if state == "open":
        stmt = stmt.where(WorkOrder.state.in_(OPEN_STATES))
    elif state != "all":
        stmt = stmt.where(WorkOrder.state == state)
    if site:
        stmt = stmt.where(WorkOrder.site == site)
    if overdue_only:
        stmt = stmt.where(overdue_clause(utcnow()))
    if assignee:
        stmt = stmt.where(WorkOrder.assignee == assignee)
    if device_id is not None:
        stmt = stmt.where(WorkOrder.device_id == device_id)
    return stmt


@router.get("/workorders", response_model=list[WorkOrderOut], summary="Work orders of your sites, newest first")
def list_orders(request: Request, user: Reader,
                state: Literal["open", "all", *STATES] = Query("open"),  # type: ignore[valid-type]
                site: str | None = Query(None, max_length=48), overdue: bool = False,
                assignee: str | None = Query(None, max_length=64),
                limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000)
                ) -> list[WorkOrderOut]:
    stmt = query_orders(user, state, site, overdue, assignee)
    with get_server(request).db.session() as s:
        rows = s.execute(stmt.order_by(WorkOrder.id.desc()).limit(limit).offset(offset)).all()
        return [WorkOrderOut.of(wo, dev, user) for wo, dev in rows]


@router.get("/workorders/{order_id}", response_model=WorkOrderDetail, summary="One work order with its history")
def get_order(request: Request, user: Reader, order_id: OrderId) -> WorkOrderDetail:
    return order_detail(request, user, order_id)


@router.post("/workorders", response_model=WorkOrderDetail, status_code=status.HTTP_201_CREATED,
             summary="Open a work order by hand (or count one more occurrence on the open one)")
def post_order(request: Request, user: Reader, body: WorkOrderIn) -> WorkOrderDetail:
    try:
        res = create_order(get_server(request), user, body.site, body.kind.value, body.device, body.fault,
                           body.severity, body.note, body.event_id)
    except WorkOrderError as exc:
        raise _http(exc) from None
    return order_detail(request, user, res.order_id)


@router.post("/workorders/{order_id}/steps/{step}", response_model=WorkOrderDetail,
             summary="Take a life-cycle step: " + ", ".join(STEPS))
def post_step(request: Request, user: Reader, order_id: OrderId, step: StepName, body: StepIn) -> WorkOrderDetail:
    try:
        step_order(get_server(request), user, order_id, step, body.assignee, body.note, body.reason)
    except WorkOrderError as exc:
        raise _http(exc) from None
    return order_detail(request, user, order_id)


@router.post("/workorders/{order_id}/photos", response_model=WorkOrderDetail, status_code=status.HTTP_201_CREATED,
             summary="Add a photo (JPEG or PNG) to an open order")
async def post_photo(request: Request, user: Reader, order_id: OrderId, file: UploadFile) -> WorkOrderDetail:
    srv = get_server(request)
    data = await file.read(int(srv.settings.workorders.max_photo_mb * 1024 * 1024) + 1)
    try:
        await run_in_threadpool(add_photo, srv, user, order_id, data)
    except WorkOrderError as exc:
        raise _http(exc) from None
    return await run_in_threadpool(order_detail, request, user, order_id)


@router.get("/workorders/{order_id}/photos/{photo_id}", response_class=FileResponse, summary="A photo of an order",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, 404: {}})
def get_photo(request: Request, user: Reader, order_id: OrderId, photo_id: OrderId) -> FileResponse:
    try:
        path, ctype = photo_path(get_server(request), user, order_id, photo_id)
    except WorkOrderError as exc:
        raise _http(exc) from None
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "photo file missing")
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "private, max-age=86400",
                                                         "X-Content-Type-Options": "nosniff"})
