"""Pages: the work-order list, one order (its steps as forms, photos, history), opening an order by hand."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from server.api.deps import form_user, get_server, require
from server.auth import User, mask_data
from server.db.models import Event
from server.web import render
from server.workorders.actions import add_photo, create_order, load_order, step_order
from server.workorders.api import query_orders
from server.workorders.flow import STATES, STEPS, allowed_steps
from server.workorders.models import WorkOrder, WorkOrderLog, WorkOrderPhoto
from server.workorders.service import WorkOrderError, overdue, sla_met

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]
Poster = Annotated[User, Depends(form_user("read"))]


def _to(order_id: int, err: str = "", msg: str = "") -> RedirectResponse:
    q = urlencode({k: v for k, v in (("err", err), ("msg", msg)) if v})
    return RedirectResponse(f"/workorders/{order_id}" + (f"?{q}" if q else ""), status_code=303)


@router.get("/workorders", response_class=HTMLResponse)
def orders_page(request: Request, user: Reader, state: str = Query("open", max_length=16),
                site: str | None = Query(None, max_length=48)) -> HTMLResponse:
    overdue_only = state == "overdue"
    st = state if state in (*STATES, "all") else "open"
    stmt = query_orders(user, st, site or None, overdue_only)
    with get_server(request).db.session() as s:
        rows = s.execute(stmt.order_by(WorkOrder.id.desc()).limit(500)).all()
        orders = [(wo, dev, overdue(wo)) for wo, dev in rows]
    return render(request, "ops/workorders.html", user, {"orders": orders, "state": state, "site": site or ""})


@router.get("/workorders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, user: Reader, order_id: int) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        try:
            wo, dev = load_order(s, user, order_id)
        except WorkOrderError as exc:
            raise HTTPException(exc.status, exc.message) from None
        logs = list(s.scalars(select(WorkOrderLog).where(WorkOrderLog.order_id == wo.id).order_by(WorkOrderLog.id)))
        photos = list(s.scalars(select(WorkOrderPhoto).where(WorkOrderPhoto.order_id == wo.id)
                                .order_by(WorkOrderPhoto.id)))
        steps = [STEPS[n] for n in allowed_steps(wo.state, user, wo.assignee)]
        trigger_id = wo.last_event_id or wo.first_event_id
        trigger = s.get(Event, trigger_id) if trigger_id else None
        ctx = {"wo": wo, "dev": dev, "trigger": trigger,
               "trigger_data": mask_data(trigger.data, user) if trigger is not None else {},
               "logs": logs, "photos": photos, "steps": steps, "late": overdue(wo),
               "sla": sla_met(wo), "assignees": srv.auth.assignable(wo.site) if any(
                   st.name == "dispatch" for st in steps) else []}
        return render(request, "ops/workorder.html", user, ctx)


@router.post("/workorders/{order_id}/step")
def order_step(request: Request, user: Poster, order_id: int, step: Annotated[str, Form(max_length=16)],
               assignee: Annotated[str, Form(max_length=64)] = "", note: Annotated[str, Form(max_length=4000)] = "",
               reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        step_order(get_server(request), user, order_id, step, assignee or None, note or None, reason or None)
    except WorkOrderError as exc:
        if exc.status == 404:
            raise HTTPException(status.HTTP_404_NOT_FOUND, exc.message) from None
        return _to(order_id, err=exc.message)
    return _to(order_id, msg="done_ok")


@router.post("/workorders/{order_id}/photo")
async def order_photo(request: Request, user: Poster, order_id: int, photo: UploadFile) -> Response:
    srv = get_server(request)
    data = await photo.read(int(srv.settings.workorders.max_photo_mb * 1024 * 1024) + 1)
    try:
        await run_in_threadpool(add_photo, srv, user, order_id, data)
    except WorkOrderError as exc:
        if exc.status == 404:
            raise HTTPException(status.HTTP_404_NOT_FOUND, exc.message) from None
        return _to(order_id, err=exc.message)
    return _to(order_id, msg="done_ok")


@router.post("/workorders/new")
def order_new(request: Request, user: Poster, site: Annotated[str, Form(max_length=48)],
              kind: Annotated[str, Form(max_length=24)], device: Annotated[str, Form(max_length=48)],
              event_id: Annotated[str, Form(max_length=26)] = "", fault: Annotated[str, Form(max_length=96)] = "",
              severity: Annotated[str, Form(max_length=16)] = "warning",
              note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        res = create_order(get_server(request), user, site, kind, device, fault or None, severity, note or None,
                           event_id or None)
    except WorkOrderError as exc:
        if exc.status == 404:
            raise HTTPException(status.HTTP_404_NOT_FOUND, exc.message) from None
        back = f"/devices/{site}/{kind}/{device}?" + urlencode({"err": exc.message})
        return RedirectResponse(back, status_code=303)
    return _to(res.order_id, msg="done_ok")
