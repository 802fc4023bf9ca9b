"""Pages for property managers and maintenance staff: ``/taxi`` (orders under way, figures per kiosk and per day,
recent orders) and ``/taxi/orders/{id}`` (one order's history with its timings). Server-rendered in the server's
layout, Chinese first; phone numbers of residents are masked for roles that do not need them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from linli.contract import utcnow
from linli.i18n import Catalog, Lang, pick_lang
from server import web
from server.api.deps import get_server, require
from server.auth import User

from .api import find_order, list_orders, mask_phone
from .models import TaxiOrderStep
from .stats import daily_figures, kiosk_figures

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]

_render = web.render

TEXTS = Catalog({
    "title": ("一键叫车", "Taxi kiosks"),
    "subtitle": ("订单、派车成功率与候车时间", "Orders, dispatch success and waiting times"),
    "days": ("最近 {n} 天", "Last {n} days"),
    "today": ("今天", "Today"),
    "calls": ("叫车次数", "Calls"),
    "per_day": ("日均", "per day"),
    "success": ("派车成功率", "Got a car"),
    "success_hint": ("有司机接单的订单 ÷ 已有结果的订单（不计乘客在派车前自己取消的）",
                     "Orders a driver accepted ÷ orders decided (not counting those the resident cancelled first)"),
    "wait_driver": ("等司机接单（中位数）", "Wait for a driver (median)"),
    "wait_car": ("等车到达（中位数）", "Wait for the car (median)"),
    "active_now": ("正在进行", "Under way"),
    "active": ("正在进行的订单", "Orders under way"),
    "no_active": ("现在没有进行中的订单。", "No order is under way."),
    "kiosks": ("各叫车屏", "Per kiosk"),
    "no_kiosks": ("这段时间没有叫车。", "No calls in this period."),
    "daily": ("每天", "Per day"),
    "recent": ("最近的订单", "Recent orders"),
    "kiosk": ("叫车屏", "Kiosk"),
    "site": ("小区", "Site"),
    "tap": ("叫车时间", "Called at"),
    "state": ("状态", "State"),
    "plate": ("车牌", "Plate"),
    "driver": ("司机", "Driver"),
    "eta": ("预计到达", "ETA"),
    "waited": ("已等", "Waiting"),
    "picked_up": ("上车", "Picked up"),
    "cancelled": ("取消", "Cancelled"),
    "failed": ("未叫到", "No car"),
    "no_show": ("未见乘客", "No-show"),
    "day": ("日期", "Day"),
    "detail": ("详情", "details"),
    "order": ("叫车订单", "Taxi order"),
    "back": ("返回一键叫车", "Back to taxi kiosks"),
    "history": ("经过", "History"),
    "time": ("时间", "Time"),
    "to_driver": ("司机接单用时", "Time to a driver"),
    "to_car": ("车到用时", "Time to the car"),
    "to_pickup": ("上车用时", "Time to pick-up"),
    "ended": ("结束于", "Ended at"),
    "timings": ("时间", "Timings"),
    "place": ("上车地点", "Pick-up"),
    "phone": ("乘客电话", "Passenger phone"),
    "source": ("叫车方式", "Called by"),
    "provider": ("派车平台", "Provider"),
    "attempts": ("派车次数", "Searches"),
    "errors": ("平台错误", "Provider errors"),
    "note": ("说明", "Note"),
    "min_s": ("{m} 分 {s} 秒", "{m} min {s} s"),
    "sec": ("{s} 秒", "{s} s"),
    "none": ("—", "—"),
    "src_screen": ("触摸屏", "touch screen"), "src_button": ("实体按钮", "button"), "src_sim": ("模拟", "simulation"),
    "st_requested": ("已收到", "received"), "st_searching": ("找车中", "searching"),
    "st_assigned": ("已派车", "driver on the way"), "st_arriving": ("即将到达", "arriving"),
    "st_picked_up": ("已上车", "picked up"), "st_cancelled": ("已取消", "cancelled"),
    "st_no_driver": ("无车可派", "no driver"), "st_unavailable": ("平台不可用", "provider unavailable"),
    "st_no_show": ("未见乘客", "passenger no-show"),
    "step_requested": ("乘客叫车", "resident called"), "step_ride_requested": ("已向平台叫车", "asked the platform"),
    "step_assigned": ("司机接单", "driver accepted"), "step_arriving": ("车快到了", "car close"),
    "step_picked_up": ("乘客上车", "passenger picked up"), "step_cancel_requested": ("要求取消", "cancel asked"),
    "step_cancelled": ("已取消", "cancelled"), "step_driver_cancelled": ("司机取消", "driver cancelled"),
    "step_driver_no_show": ("司机未到", "driver did not come"), "step_provider_error": ("平台出错", "provider error"),
    "step_provider_timeout": ("平台超时", "provider timeout"), "step_phone": ("留了电话", "phone number left"),
    "step_no_driver": ("无车可派", "no driver"), "step_unavailable": ("平台不可用", "provider unavailable"),
    "step_no_show": ("未见乘客", "passenger no-show"),
    # why an order ended (TaxiOrder.note; a step's detail is kept for maintainers under "raw")
    "note_timeout": ("等待超时", "timed out"),
    "note_provider_error": ("派车平台出错", "the platform failed"),
    "note_driver_cancelled": ("司机取消", "the driver cancelled"),
    "note_driver_no_show": ("司机未到", "the driver did not come"),
    "note_superseded": ("乘客重新叫车", "the resident called again"),
    "note_staff": ("工作人员取消", "cancelled by staff"),
    "note_resident": ("乘客取消", "cancelled by the resident"),
    "note_no_answer": ("叫车屏联系不上服务器", "the kiosk lost the server"),
    "note_other": ("其他", "other"),
    "raw": ("原始记录", "raw record"),
})


def _duration(seconds: float | None, lang: Lang) -> str:
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    return TEXTS.t("min_s", lang, m=s // 60, s=s % 60) if s >= 60 else TEXTS.t("sec", lang, s=s)


def _lang(request: Request) -> Lang:
    return pick_lang(request.query_params.get("lang"), request.cookies.get(web.LANG_COOKIE),
                     request.headers.get("accept-language"))


def _ctx(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    lang = _lang(request)

    def tk(key: str, **kw: Any) -> str:
        return TEXTS.t(key, lang, **kw) if key in TEXTS.messages else key

    def note(value: str | None) -> str:
        """Why an order ended, in words (an unknown reason: "other"; the raw one is in the history's details)."""
        return tk(f"note_{value}" if f"note_{value}" in TEXTS.messages else "note_other") if value else "—"

    return {"tk": tk, "note_of": note, "dur": lambda s: _duration(s, lang), "phone_of": lambda p: mask_phone(p, user),
            "now": utcnow(), **extra}


@router.get("/taxi", response_class=HTMLResponse)
def taxi_page(request: Request, user: Reader, days: int = Query(7, ge=1, le=92)) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        total, kiosks = kiosk_figures(s, user, days)
        daily = daily_figures(s, user, days)
        active = list_orders(s, user, state="active", limit=200)
        recent = list_orders(s, user, limit=50)
    busiest = max((f.calls for _, f in daily), default=0)
    return _render(request, "taxi_kiosk/overview.html", user, _ctx(
        request, user, days=days, total=total, kiosks=kiosks, daily=daily, busiest=busiest, active=active,
        recent=recent))


@router.get("/taxi/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, user: Reader, order_id: str) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        o, dev = find_order(s, user, order_id)
        steps = list(s.scalars(select(TaxiOrderStep).where(TaxiOrderStep.order_id == o.id)
                               .order_by(TaxiOrderStep.at, TaxiOrderStep.id)))

    def since_tap(t: datetime | None) -> float | None:
        return (t - o.requested_at).total_seconds() if t is not None else None

    return _render(request, "taxi_kiosk/order.html", user, _ctx(request, user, o=o, dev=dev, steps=steps,
                                                                since_tap=since_tap))
