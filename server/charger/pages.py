"""Charger pages: all piles (live port map, energy and revenue per day, faults, orders) and one pile (its ports
with remote start/stop, audited; its orders). Rendered in the server's layout; Chinese first; every asset local."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from linli.contract import Kind
from linli.i18n import pick_lang
from server import web
from server.api.deps import find_device, form_user, get_server, require
from server.auth import User
from server.web.messages import CATALOG as WEB_CATALOG

from . import service
from .messages import MESSAGES

CATALOG = WEB_CATALOG.merged(MESSAGES)
router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]


def _ctx(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    lang = pick_lang(request.query_params.get("lang"), request.cookies.get(web.LANG_COOKIE),
                     request.headers.get("accept-language"))

    def t(key: str, **kw: Any) -> str:
        return CATALOG.t(key, lang, **kw) if key in CATALOG.messages else key

    return {"t": t, "can_command": user.can("command"), **extra}


def _bars(days: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    top = max((d[key] for d in days), default=0) or 1
    return [{"day": d["day"][5:], "value": d[key], "h": round(100 * d[key] / top)} for d in reversed(days)]


@router.get("/charger", response_class=HTMLResponse)
def overview(request: Request, user: Reader) -> HTMLResponse:
    with get_server(request).db.session() as s:
        days = service.daily(s, user, 7)
        ctx = _ctx(request, user, piles=service.piles(s, user), orders=service.orders(s, user, limit=30), days=days,
                   kwh_bars=_bars(days, "kwh"), yuan_bars=_bars(days, "yuan"), totals=service.totals(s, user),
                   faults=service.faults(s, user, 20))
        return web.render(request, "charger/charger_overview.html", user, ctx)


@router.get("/charger/{site}/{device}", response_class=HTMLResponse)
def pile_page(request: Request, user: Reader, site: str, device: str) -> HTMLResponse:
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, Kind.charger.value, device)
        pile = next(p for p in service.piles(s, user) if p["id"] == dev.id)
        ctx = _ctx(request, user, pile=pile, orders=service.orders(s, user, site, device, 50),
                   tariff=service.current_tariff(s, site), done=request.query_params.get("done", ""))
        return web.render(request, "charger/charger_pile.html", user, ctx)


def _device(request: Request, user: User, site: str, device: str) -> Any:
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, Kind.charger.value, device)
        s.expunge(dev)
    return dev


@router.post("/charger/{site}/{device}/ports/{port}/start")
def page_start(request: Request, site: str, device: str, port: int,
               user: Annotated[User, Depends(form_user("command"))],
               prepaid_yuan: Annotated[float, Form(ge=0, le=1000)] = 0.0,
               minutes: Annotated[int, Form(ge=0, le=1440)] = 0) -> RedirectResponse:
    dev = _device(request, user, site, device)
    res = service.remote_start(get_server(request), user, dev, port, round(prepaid_yuan * 100), minutes)
    return RedirectResponse(f"/charger/{site}/{device}?done=started-{port}-{res['order_id']}", status_code=303)


@router.post("/charger/{site}/{device}/ports/{port}/stop")
def page_stop(request: Request, site: str, device: str, port: int,
              user: Annotated[User, Depends(form_user("command"))],
              reason: Annotated[str, Form(max_length=200)] = "") -> RedirectResponse:
    dev = _device(request, user, site, device)
    service.remote_stop(get_server(request), user, dev, port, reason or "page")
    return RedirectResponse(f"/charger/{site}/{device}?done=stopped-{port}", status_code=303)
