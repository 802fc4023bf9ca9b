"""/api/v1/dashboards…: panel list, panel data (JSON or CSV), the fleet summary; /api/v1/stream: live updates (SSE)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from linli.contract import Kind, utcnow
from linli.i18n import Lang, pick_lang, to_local
from server.api.deps import get_server, require
from server.auth import User
from server.dashboards.fleet import fleet_rows, summary
from server.dashboards.registry import ChartData, Panel, PanelQuery, Series
from server.db.models import Device
from server.web.humanize import humanizer
from server.web.messages import CATALOG
from server.workorders.models import WorkOrder, WorkOrderLog
from server.workorders.service import visible_orders

router = APIRouter(prefix="/api/v1", tags=["dashboards"])
Reader = Annotated[User, Depends(require("read"))]
MAX_DAYS = 366
DEFAULT_DAYS = 14
STREAM_S = 25.0      # one SSE response lasts this long; EventSource reconnects by itself (``retry``)
STREAM_POLL_S = 2.0


class PanelOut(BaseModel):
    id: str
    title: str
    kind: Kind | None
    chart: str
    stacked: bool
    ranged: bool
    description: str

    @classmethod
    def of(cls, p: Panel, lang: Any) -> PanelOut:
        return cls(id=p.id, title=p.label(lang), kind=p.kind, chart=p.chart, stacked=p.stacked, ranged=p.ranged,
                   description=p.describe(lang))


class SeriesOut(BaseModel):
    name: str
    values: list[float | int | None]


class PanelDataOut(BaseModel):
    id: str
    title: str
    since: date
    until: date
    site: str | None
    labels: list[str]
    series: list[SeriesOut]
    unit: str


class SummaryOut(BaseModel):
    devices: int
    online: int
    offline: int
    online_rate: float
    open_orders: int
    overdue_orders: int


def series_labels(data: ChartData, lang: Lang, panel_id: str = "", title: str = "") -> ChartData:
    """Series and category labels in the user's language: device kinds and known words from the catalogue, event
    types, faults and states from the contract's human names (``server.web.humanize``); a panel's single series
    named after the panel takes the panel's title. Chart legends and CSV exports both use this."""
    h = humanizer(lang)

    def label(name: str) -> str:
        if panel_id and name == panel_id:
            return title
        for key in (f"kind_{name}", f"series_{name}"):
            if key in CATALOG.messages:
                return CATALOG.t(key, lang)
        return h.any(name)

    labels = [h.any(x) if isinstance(x, str) else x for x in data.labels]
    return ChartData(labels, [Series(label(x.name), x.values) for x in data.series], data.unit)


def today_local() -> date:
    local = to_local(utcnow())
    assert local is not None
    return local.date()


def date_range(since: date | None, until: date | None) -> tuple[date, date]:
    until = until or today_local()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must not be after until")
    if (until - since).days + 1 > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_DAYS} days per chart")
    return since, until


@router.get("/dashboards", response_model=list[PanelOut], summary="Dashboard panels (fleet and per kind)")
def list_panels(request: Request, user: Reader, kind: Kind | None = None) -> list[PanelOut]:
    lang = pick_lang(request.query_params.get("lang"), None, request.headers.get("accept-language"))
    reg = get_server(request).dashboards
    panels = reg.panels(kind) if kind is not None else reg.all()
    return [PanelOut.of(p, lang) for p in panels]


@router.get("/dashboards/summary", response_model=SummaryOut,
            summary="Headline figures (your sites): the fleet, or one kind's devices and work orders")
def get_summary(request: Request, user: Reader, kind: Kind | None = None) -> SummaryOut:
    with get_server(request).db.session() as s:
        return SummaryOut(**summary(s, user, kind.value if kind else None))


@router.get("/dashboards/panels/{panel_id}", response_model=PanelDataOut,
            responses={200: {"content": {"text/csv": {}}}},
            summary="A panel's data for a date range (Shanghai days, both included); format=csv to export")
def panel_data(request: Request, user: Reader, panel_id: str,
               since: date | None = Query(None, description=f"first day (default: {DEFAULT_DAYS} days to until)"),
               until: date | None = Query(None, description="last day (default: today in Shanghai)"),
               site: str | None = Query(None, max_length=48, description="only this site"),
               format: Literal["json", "csv"] = "json") -> Any:
    srv = get_server(request)
    panel = srv.dashboards.get(panel_id)
    if panel is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no panel {panel_id}")
    if site is not None and not user.sees(site):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    lo, hi = date_range(since, until)
    lang = pick_lang(request.query_params.get("lang"), request.cookies.get("linli_lang"),
                     request.headers.get("accept-language"))
    with srv.db.session() as s:
        data = panel.query(PanelQuery(s, user, lo, hi, site, lang))
    data = series_labels(data, lang, panel.id, panel.label(lang))
    if format == "csv":
        name = f"{panel_id}_{lo.isoformat()}_{hi.isoformat()}.csv"
        return Response("\ufeff" + data.to_csv("date" if panel.ranged else "label"), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return PanelDataOut(id=panel.id, title=panel.label(lang), since=lo, until=hi, site=site, labels=data.labels,
                        series=[SeriesOut(name=x.name, values=x.values) for x in data.series], unit=data.unit)


@router.get("/dashboards/fleet", summary="Devices by site and kind: counts, online, last seen, open orders")
def fleet_table(request: Request, user: Reader) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        return [{"site": r.site, "kind": r.kind, "devices": r.devices, "online": r.online,
                 "online_rate": r.online_rate, "last_seen": r.last_seen, "open_orders": r.open_orders}
                for r in fleet_rows(s, user)]


# ------------------------------------------------------------------------------------------ live stream (SSE)
def _feed(request: Request, user: User, after: int) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    srv = get_server(request)
    with srv.db.session() as s:
        rows = s.execute(visible_orders(
            select(WorkOrderLog, WorkOrder, Device).join(WorkOrder, WorkOrderLog.order_id == WorkOrder.id)
            .join(Device, WorkOrder.device_id == Device.id).where(WorkOrderLog.id > after)
            .order_by(WorkOrderLog.id).limit(50), user)).all()
        items = [{"log_id": lg.id, "order_id": wo.id, "action": lg.action, "state": lg.state, "who": lg.who,
                  "at": lg.at.isoformat(), "fault": wo.fault, "severity": wo.severity, "site": d.site,
                  "kind": d.kind, "device": d.device} for lg, wo, d in rows]
        last = max([after, *[i["log_id"] for i in items]])
        return last, items, summary(s, user)


def _last_log_id(request: Request) -> int:
    with get_server(request).db.session() as s:
        return int(s.scalar(select(func.max(WorkOrderLog.id))) or 0)


@router.get("/stream", summary="Live updates (text/event-stream): `summary` figures and `workorder` notifications",
            response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, user: Reader) -> StreamingResponse:
    last_id = request.headers.get("last-event-id", "")
    after = int(last_id) if last_id.isdigit() else await run_in_threadpool(_last_log_id, request)

    async def events() -> Any:
        nonlocal after
        yield "retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_S
        last_summary: dict[str, Any] | None = None
        while loop.time() < end and not await request.is_disconnected():
            after, items, summ = await run_in_threadpool(_feed, request, user, after)
            for item in items:
                yield f"id: {item['log_id']}\nevent: workorder\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"
            if summ != last_summary:
                last_summary = summ
                yield f"id: {after}\nevent: summary\ndata: {json.dumps(summ)}\n\n"
            await asyncio.sleep(STREAM_POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
