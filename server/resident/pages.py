"""Residents' pages: a port's page from its QR code (扫码充电), the exit lane's parking fee, the order page (live
charge, stop, receipt, refund), and for staff the printable sheets of QR codes.

Public by design (no account): every route below in ``PUBLIC_BY_DESIGN`` is reached only through a signed QR
token (:mod:`server.payments.tokens`: nobody can make the code of another port or lane) or an order's
unguessable view key. They show no internal identifiers (no site, device or order ids): the port number, states,
prices and the bill. Chinese first (``?lang=en`` switches, remembered in a cookie); one column for a 360 px phone;
no third-party assets (CSS and the small refresh script are inline).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from linli.contract import Kind, utcnow
from linli.i18n import Catalog, pick_lang
from server import web
from server.api.deps import find_device, get_server, require
from server.auth import User
from server.auth.privacy import mask_plate
from server.charger import resident as charge
from server.db.models import Device
from server.gate import resident as parking
from server.payments import tokens
from server.payments.models import PayOrder
from server.payments.service import NewOrder, Payments, Refused

from . import view
from .messages import MESSAGES

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
CATALOG = Catalog(MESSAGES)
router = APIRouter(include_in_schema=False)

# Public by design (no account): the /r/ routes are listed with their reasons in server/payments/public.py.


def _pay(request: Request) -> Payments:
    return get_server(request).payments


def _lang(request: Request) -> str:
    # residents see Chinese unless they ask for English (the browser's language does not switch it)
    return pick_lang(request.query_params.get("lang"), request.cookies.get(web.LANG_COOKIE), None)


def _t(lang: str) -> Any:
    def t(key: str, **kw: Any) -> str:
        return CATALOG.t(key, lang, **kw) if key in CATALOG.messages else key  # type: ignore[arg-type]
    return t


def _page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    lang = _lang(request)
    resp = TEMPLATES.TemplateResponse(request, name, {"t": _t(lang), "lang": lang, "yuan": view.yuan,
                                                      "path": request.url.path, **ctx}, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        resp.set_cookie(web.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp


def _message(request: Request, key: str, status_code: int = 200, title: str = "charge_title") -> HTMLResponse:
    return _page(request, "resident/message.html", status_code, title=title, message=key)


def _target(request: Request, token: str, what: str) -> tokens.Target | None:
    try:
        target = tokens.check(_pay(request).token_key, token)
    except tokens.BadToken:
        return None
    return target if target.what == what else None


def _device(s: Any, target: tokens.Target, kind: Kind) -> Device | None:
    return s.scalars(select(Device).where(Device.site == target.site, Device.kind == kind.value,
                                          Device.device == target.device)).first()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# ---------------------------------------------------------------------- charging
def _choices(pay: Payments, tariff: Any, t: Any, lang: str) -> list[dict[str, Any]]:
    cfg = pay.cfg
    out = [{"value": "full:0", "label": t("opt_full", yuan=view.yuan(cfg.full_prepay_fen)),
            "fen": cfg.full_prepay_fen}]
    for fen in cfg.amounts_fen:
        out.append({"value": f"amount:{fen}", "label": t("opt_amount", yuan=view.yuan(fen)), "fen": fen})
    for m in cfg.durations_min:
        fen, _ = charge.prepay(tariff, "duration", m, cfg)
        out.append({"value": f"duration:{m}", "label": t("opt_duration", h=view.hours(m, lang), yuan=view.yuan(fen)),
                    "fen": fen})
    return out


@router.get("/r/c/{token}", response_class=HTMLResponse)
def port_page(request: Request, token: str, error: str | None = None) -> HTMLResponse:
    target = _target(request, token, "c")
    if target is None:
        return _message(request, "bad_code", 404)
    pay = _pay(request)
    lang = _lang(request)
    t = _t(lang)
    with get_server(request).db.session() as s:
        dev = _device(s, target, Kind.charger)
        if dev is None:
            return _message(request, "no_device", 404)
        n = target.port
        state = charge.port_state(dev, n) if charge.online(dev, pay.cfg) else None
        why = charge.why_not(s, dev, n, pay.cfg) or (None if pay.enabled else "no_provider")
        tariff = charge.tariff_for(s, dev.site)
    return _page(request, "resident/port.html", title="charge_title", port=n,
                 state_text=t(f"st_{state}") if state else t("pile_offline"), state=state or "offline",
                 why=why, error=error if error in MESSAGES else None, tariff=view.tariff_lines(tariff, t),
                 choices=_choices(pay, tariff, t, lang) if why is None else [], token=token)


@router.post("/r/c/{token}/pay")
def port_pay(request: Request, token: str, choice: Annotated[str, Form(max_length=32)] = "") -> Response:
    target = _target(request, token, "c")
    if target is None:
        return _message(request, "bad_code", 404)
    pay = _pay(request)
    with get_server(request).db.session() as s:
        dev = _device(s, target, Kind.charger)
        if dev is None:
            return _message(request, "no_device", 404)
        why = charge.why_not(s, dev, target.port, pay.cfg)  # refused before payment, not after
        tariff = charge.tariff_for(s, dev.site)
        dev_id = dev.id
    if why is not None:
        return RedirectResponse(f"/r/c/{token}?error={why}", status_code=303)
    try:
        option, _, value = choice.partition(":")
        fen, minutes = charge.prepay(tariff, option, int(value or 0), pay.cfg)
    except ValueError:
        return RedirectResponse(f"/r/c/{token}?error=bad_choice", status_code=303)
    desc = f"{CATALOG.t('charge_title')} · {CATALOG.t('port_n', n=target.port)}"
    try:
        row = pay.open(NewOrder("charge", target.site, dev_id, fen, option, desc, port=target.port, minutes=minutes),
                       _base(request))
    except Refused as e:
        return RedirectResponse(f"/r/c/{token}?error={e.key}", status_code=303)
    return RedirectResponse(row.pay_url or f"/r/o/{row.view_key}", status_code=303)


# ---------------------------------------------------------------------- parking at the exit
@router.get("/r/g/{token}", response_class=HTMLResponse)
def exit_page(request: Request, token: str, error: str | None = None) -> HTMLResponse:
    target = _target(request, token, "g")
    if target is None:
        return _message(request, "bad_code", 404, "exit_title")
    lang = _lang(request)
    with get_server(request).db.session() as s:
        dev = _device(s, target, Kind.gate)
        if dev is None:
            return _message(request, "no_device", 404, "exit_title")
        car = parking.waiting(s, dev, target.where)
    if car is not None:
        car = {**car, "plate": mask_plate(car["plate"]), "entered": view.local(car["entry_at"]),
               "parked": view.duration((utcnow() - car["entry_at"]).total_seconds() if car["entry_at"] else 0, lang)}
    return _page(request, "resident/exit.html", title="exit_title", car=car, token=token,
                 error=error if error in MESSAGES else None, enabled=_pay(request).enabled)


@router.post("/r/g/{token}/pay")
def exit_pay(request: Request, token: str) -> Response:
    target = _target(request, token, "g")
    if target is None:
        return _message(request, "bad_code", 404, "exit_title")
    pay = _pay(request)
    with get_server(request).db.session() as s:
        dev = _device(s, target, Kind.gate)
        if dev is None:
            return _message(request, "no_device", 404, "exit_title")
        car = parking.waiting(s, dev, target.where)
        dev_id, online = dev.id, charge.online(dev, pay.cfg)
    if car is None or car["due_fen"] <= 0:
        return RedirectResponse(f"/r/g/{token}", status_code=303)
    if not online:
        return RedirectResponse(f"/r/g/{token}?error=gate_offline", status_code=303)
    try:
        row = pay.open(NewOrder("parking", target.site, dev_id, car["due_fen"], "parking", CATALOG.t("exit_title"),
                                lane=target.where, gate_session_id=car["session_id"]), _base(request))
    except Refused as e:
        return RedirectResponse(f"/r/g/{token}?error={e.key}", status_code=303)
    return RedirectResponse(row.pay_url or f"/r/o/{row.view_key}", status_code=303)


# ---------------------------------------------------------------------- the order
def _refund_text(o: PayOrder, t: Any) -> str:
    if o.refund_state == "none" or not o.refund_fen:
        return t("no_refund")
    return t("refund_done" if o.refund_state == "done" else "refund_pending", yuan=view.yuan(o.refund_fen))


def _phase(o: PayOrder, lv: dict[str, Any] | None) -> str:
    if o.state == "created":
        return "unpaid"
    if o.state == "closed":
        return "closed"
    if o.state == "failed":
        return "failed"
    if o.purpose == "parking":
        if o.state == "done":
            return "gate_no_answer" if o.failure == "gate_no_answer" else "opened"
        return "opening"
    if o.state == "done" or (lv and lv["settled"]):
        return "done"
    if o.state in ("paid", "starting"):
        return "starting"
    if lv and lv["waiting_plug"]:
        return "waiting_plug"
    if lv and lv["mine"]:
        return "charging"
    return "settling"


def _live(request: Request, o: PayOrder) -> dict[str, Any]:
    lang = _lang(request)
    with get_server(request).db.session() as s:
        lv = charge.live(s, o) if o.purpose == "charge" else None
    phase = _phase(o, lv)
    out: dict[str, Any] = {"phase": phase, "final": phase in ("done", "failed", "closed", "opened",
                                                               "gate_no_answer")}
    if lv is not None and phase == "charging":
        cost = lv["cost_fen"]
        out.update(elapsed=view.duration(lv["charged_s"], lang),
                   energy=f"{(lv['energy_wh'] or 0) / 1000:.3f} kWh",
                   power=f"{lv['power_w'] or 0:.0f} W",
                   cost=f"¥{view.yuan(min(cost, o.amount_fen) if cost is not None else None)}")
    return out


@router.get("/r/o/{key}", response_class=HTMLResponse)
def order_page(request: Request, key: str) -> HTMLResponse:
    pay = _pay(request)
    o = pay.order(key)
    if o is None:
        return _message(request, "no_order", 404, "order_title")
    lang = _lang(request)
    t = _t(lang)
    live = _live(request, o)
    rows = None
    if o.purpose == "charge" and live["phase"] == "done":
        with get_server(request).db.session() as s:
            co = charge.bill(s, o)
            if co is not None:
                tariff = charge.tariff_for(s, o.site, co.tariff_version)
                rows = view.receipt(co, o, tariff, t, lang, _refund_text(o, t))
    return _page(request, "resident/order.html", title="charge_title" if o.purpose == "charge" else "exit_title",
                 o=o, live=live, rows=rows, key=key, refund=_refund_text(o, t),
                 minutes=view.hours(o.minutes, lang) if o.minutes else None,
                 failure=t(f"f_{o.failure}") if o.failure else "")


@router.get("/r/o/{key}/live.json")
def order_live(request: Request, key: str) -> JSONResponse:
    o = _pay(request).order(key)
    if o is None:
        return JSONResponse({"detail": "no such order"}, status_code=404)
    return JSONResponse(_live(request, o), headers={"cache-control": "no-store"})


@router.post("/r/o/{key}/stop")
def order_stop(request: Request, key: str) -> Response:
    pay = _pay(request)
    o = pay.order(key)
    if o is None:
        return _message(request, "no_order", 404, "order_title")
    if o.purpose == "charge" and o.state in ("starting", "running"):
        charge.stop(pay, o)
    return RedirectResponse(f"/r/o/{key}?stopping=1", status_code=303)


# ---------------------------------------------------------------------- staff: printable QR sheets
def qr_svg(data: str) -> str:
    import segno

    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=5, xmldecl=False, svgns=True)
    return buf.getvalue().decode()


def _public_base(request: Request) -> str:
    return (_pay(request).cfg.public_url or _base(request)).rstrip("/")


def port_url(pay: Payments, base: str, site: str, device: str, port: int) -> str:
    return f"{base}/r/c/{tokens.make(pay.token_key, tokens.Target('c', site, device, str(port)))}"


def lane_url(pay: Payments, base: str, site: str, device: str, lane: str) -> str:
    return f"{base}/r/g/{tokens.make(pay.token_key, tokens.Target('g', site, device, lane))}"


@router.get("/resident/sheets/charger/{site}/{device}", response_class=HTMLResponse)
def charger_sheet(request: Request, site: str, device: str,
                  user: Annotated[User, Depends(require("read"))]) -> HTMLResponse:
    pay = _pay(request)
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, Kind.charger.value, device)
        n = charge.ports_of(dev)
    base = _public_base(request)
    t = _t(_lang(request))
    codes = [{"label": t("port_n", n=p), "hint": t("scan_to_charge"),
              "svg": qr_svg(port_url(pay, base, site, device, p)), "url": port_url(pay, base, site, device, p)}
             for p in range(1, n + 1)]
    return _page(request, "resident/sheet.html", title="sheet_title", codes=codes)


@router.get("/resident/sheets/gate/{site}/{device}", response_class=HTMLResponse)
def gate_sheet(request: Request, site: str, device: str,
               user: Annotated[User, Depends(require("read"))]) -> HTMLResponse:
    pay = _pay(request)
    with get_server(request).db.session() as s:
        dev = find_device(s, user, site, Kind.gate.value, device)
        lanes = parking.exit_lanes(s, dev)
    base = _public_base(request)
    t = _t(_lang(request))
    codes = [{"label": t("exit_lane", lane=lane), "hint": t("scan_to_pay_exit"),
              "svg": qr_svg(lane_url(pay, base, site, device, lane)), "url": lane_url(pay, base, site, device, lane)}
             for lane in lanes]
    return _page(request, "resident/sheet.html", title="sheet_title", codes=codes)
