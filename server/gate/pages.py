"""Pages for property managers, guards' supervisors and maintenance staff (Chinese first): ``/gate`` (occupancy,
gates and their list versions, recent passages with plate images, cars inside), ``/gate/passages`` (search),
``/gate/lists`` (residents, visitor passes, blacklist, door cards, tariff, door QR codes) and ``/gate/doors``
(door access and alarms). Plates and images are hidden from roles that do not need them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from linli.contract import NAME_RE, new_id, utcnow
from linli.gate import qr
from linli.gate.fees import Tariff, yuan
from linli.gate.plates import COLOUR_NAMES_ZH, PlateError, display, parse
from linli.i18n import SHANGHAI, Catalog, Lang, pick_lang
from server import web
from server.alerts.service import open_alerts
from server.api.deps import form_user, get_server, require
from server.audit import audit
from server.auth import User, can_see_plates, mask_plate
from server.db.models import Device

from . import lists
from .api import CardIn, VehicleIn, VisitorIn, kick, may_edit
from .models import GateDoorEvent, GateListEntry, GateSession, GateSite
from .queries import card_for, occupancy, search_passages, session_view, sync_state

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]


TEXTS = Catalog({
    "title": ("道闸与门禁", "Gates & doors"),
    "subtitle": ("车辆通行、停车收费、名单与门禁", "Vehicles, parking fees, lists and doors"),
    "nav_overview": ("总览", "Overview"), "nav_passages": ("通行记录", "Passages"),
    "nav_lists": ("名单与收费", "Lists & fees"),
    "nav_doors": ("门禁记录", "Door events"),
    "site": ("小区", "Site"), "all_sites": ("全部小区", "All sites"),
    "inside": ("场内车辆", "Vehicles inside"), "temp_inside": ("临时车在场", "Temporary inside"),
    "free_spaces": ("临时车位空余", "Free temporary spaces"), "today_in": ("今日入场", "Entries today"),
    "today_fee": ("今日收费", "Fees today"),
    "gates": ("道闸设备", "Gates"), "device": ("设备", "Device"), "state": ("状态", "State"),
    "list_version": ("名单版本", "List version"), "synced": ("已同步", "in sync"), "behind": ("待同步", "behind"),
    "recent": ("最近通行", "Recent passages"), "time": ("时间", "Time"), "lane": ("车道", "Lane"),
    "plate": ("车牌", "Plate"), "decision": ("结果", "Decision"), "category": ("类别", "Category"),
    "fee": ("费用", "Fee"), "image": ("车牌图", "Plate image"), "none": ("暂无记录", "Nothing yet"),
    "sessions": ("在场车辆", "Cars inside"), "entered": ("入场时间", "Entered"), "due": ("当前应缴", "Due now"),
    "entry": ("入", "in"), "exit": ("出", "out"),
    "d_open": ("放行", "opened"), "d_deny": ("拒绝", "refused"), "d_guard": ("待保安", "guard"),
    "d_pay": ("待缴费", "fee due"), "d_manual": ("人工放行", "manual"),
    "c_resident": ("业主", "resident"), "c_visitor": ("访客", "visitor"), "c_temporary": ("临时车", "temporary"),
    "c_blacklist": ("黑名单", "blacklist"), "c_none": ("无牌", "no plate"), "c_unknown": ("未知", "unknown"),
    "search": ("查询", "Search"), "since": ("从", "From"), "until": ("到", "To"), "any": ("全部", "Any"),
    "plate_hidden": ("您的角色看不到完整车牌。", "Your role does not see full plates."),
    "offline_rec": ("离线补传", "offline record"),
    "lists": ("名单", "Lists"), "l_resident": ("业主车辆", "Residents' vehicles"),
    "l_visitor": ("访客预约", "Visitor passes"),
    "l_blacklist": ("黑名单", "Blacklist"), "l_card": ("门禁卡", "Door cards"),
    "valid": ("有效期", "Valid"), "label": ("业主/单元/说明", "Owner / unit / note"), "reason": ("原因", "Reason"),
    "card": ("卡号", "Card number"), "add": ("添加", "Add"), "remove": ("删除", "Remove"),
    "forever": ("长期", "no end"), "version": ("版本", "version"),
    "tariff": ("收费标准", "Tariff"), "free_minutes": ("免费时长（分钟）", "Free minutes"),
    "hourly": ("每小时（元）", "Per hour (yuan)"), "daily_cap": ("每日封顶（元）", "Cap per day (yuan)"),
    "capacity": ("临时车位数", "Temporary spaces"), "save": ("保存", "Save"),
    "qr": ("访客二维码", "Visitor QR code"), "door": ("门", "Door"), "all_doors": ("所有门", "all doors"),
    "minutes": ("有效分钟", "Valid minutes"), "issue": ("生成", "Issue"),
    "qr_issued": ("二维码已生成，{m} 分钟内有效（至 {until}）。", "QR code issued, valid {m} min (until {until})."),
    "read_only": ("您的角色只能查看名单。", "Your role can only view the lists."),
    "saved": ("已保存，道闸将在下次同步时更新。", "Saved: the gates update at their next sync."),
    "removed": ("已删除。", "Removed."),
    "doors": ("门禁记录", "Door events"), "method": ("方式", "Method"), "granted": ("结果", "Result"),
    "yes": ("开门", "opened"), "no": ("拒绝", "refused"),
    "m_card": ("刷卡", "card"), "m_qr": ("二维码", "QR"), "m_button": ("出门按钮", "exit button"),
    "m_remote": ("远程", "remote"), "m_fire": ("消防", "fire"), "m_none": ("—", "—"),
    "t_door.access": ("通行", "access"), "t_door.held_open": ("门未关报警", "held open"),
    "t_door.forced_open": ("强行开门报警", "forced open"), "t_door.fire": ("消防联动", "fire"),
})

REASONS = {"resident": ("业主", "resident"), "visitor": ("访客", "visitor"), "temporary": ("临时车", "temporary"),
           "blacklist": ("黑名单", "blacklist"), "blacklist_suspect": ("疑似黑名单", "blacklist suspect"),
           "lot_full": ("车位已满", "lot full"), "no_plate": ("无牌", "no plate"),
           "unreadable": ("无法识别", "unreadable"), "free_period": ("免费时段", "free period"),
           "paid": ("已缴费", "paid"), "fee_due": ("待缴费", "fee due"),
           "no_entry_record": ("无入场记录", "no entry record"), "guard_open": ("保安放行", "guard opened"),
           "camera_offline_record": ("相机离线记录", "camera offline record"),
           "card_valid": ("有效卡", "valid card"), "card_unknown": ("未登记卡", "unknown card"),
           "card_expired": ("卡已过期", "card expired"), "qr_valid": ("有效二维码", "valid QR"),
           "qr_invalid": ("无效二维码", "invalid QR"), "qr_expired": ("二维码过期", "QR expired"),
           "exit_button": ("出门按钮", "exit button"), "remote_unlock": ("远程开门", "remote unlock"),
           "held_open": ("门长时间未关", "held open"), "opened_without_unlock": ("未授权开门", "opened without unlock"),
           "fire_alarm_unlocked": ("消防报警，门已打开", "fire alarm: unlocked"),
           "fire_alarm_cleared": ("消防报警解除", "fire alarm cleared")}


def _lang(request: Request) -> Lang:
    return pick_lang(request.query_params.get("lang"), request.cookies.get(web.LANG_COOKIE),
                     request.headers.get("accept-language"))


def _ctx(request: Request, user: User, **extra: Any) -> dict[str, Any]:
    lang = _lang(request)

    def tk(key: str, **kw: Any) -> str:
        return TEXTS.t(key, lang, **kw) if key in TEXTS.messages else key

    def why(code: str | None) -> str:
        if not code:
            return ""
        zh, en = REASONS.get(code, (code, code.replace("_", " ")))
        return zh if lang == "zh" else en

    def plate(p: str | None) -> str:
        if not p:
            return tk("c_none")
        return display(p) if can_see_plates(user) else mask_plate(p)

    return {"tk": tk, "why": why, "plate_of": plate, "yuan": yuan, "see_plates": can_see_plates(user),
            "may_edit": may_edit(user), "colour": lambda c: COLOUR_NAMES_ZH.get(c, c) if lang == "zh" else c,
            "card_of": lambda c: card_for(user, c), "lang": lang, **extra}


def _sites(s: Any, user: User) -> list[str]:
    names = set(s.scalars(select(Device.site).where(Device.kind == "gate")).all())
    names |= set(s.scalars(select(GateSite.site)).all())
    return sorted(n for n in names if user.sees(n))


def _render(request: Request, name: str, user: User, ctx: dict[str, Any]) -> HTMLResponse:
    return web.render(request, name, user, _ctx(request, user, **ctx))


@router.get("/gate", response_class=HTMLResponse)
def overview(request: Request, user: Reader) -> HTMLResponse:
    srv = get_server(request)
    start = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    with srv.db.session() as s:
        sites = _sites(s, user)
        occ = [occupancy(s, site) for site in sites]
        syncs = [sync_state(s, site) for site in sites]
        recent = search_passages(s, user, limit=30)
        today = [p for p in search_passages(s, user, since=start, limit=1000)]
        inside = list(s.scalars(select(GateSession).where(GateSession.state == "open",
                                                         GateSession.site.in_(sites or [""]))
                                .order_by(GateSession.entry_at.desc()).limit(50)))
        tariffs = {site: lists.site_settings(lists.get_site(s, site)).tariff for site in sites}
        sessions = [session_view(r, user, tariffs.get(r.site)) for r in inside]
        gate_ids = list(s.scalars(select(Device.id).where(Device.kind == "gate", Device.site.in_(sites or [""]))))
        alerts = open_alerts(s, user, device_ids=gate_ids, audiences=("guard",))
    stats = {"inside": sum(o["inside_total"] for o in occ), "temp": sum(o["inside"].get("temporary", 0) for o in occ),
             "free": sum(o["free_temporary"] for o in occ),
             "entries": sum(1 for p in today if p.direction == "entry" and p.opened),
             "fees": sum(p.fee_cents or 0 for p in today if p.direction == "exit" and p.opened)}
    return _render(request, "gate/overview.html", user, {"occ": occ, "syncs": syncs, "recent": recent,
                                                         "sessions": sessions, "stats": stats, "alerts": alerts})


def _day(value: str | None, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None
    return d + timedelta(days=1) if end else d


@router.get("/gate/passages", response_class=HTMLResponse)
def passages(request: Request, user: Reader, site: str | None = None, plate: str | None = Query(None, max_length=32),
             since: str | None = None, until: str | None = None, decision: str | None = None) -> HTMLResponse:
    srv = get_server(request)
    dec = decision if decision in ("open", "deny", "guard", "pay", "manual") else None
    with srv.db.session() as s:
        sites = _sites(s, user)
        rows = search_passages(s, user, site or None, plate or None, _day(since), _day(until, True), dec, 300)
    return _render(request, "gate/passages.html", user, {
        "sites": sites, "rows": rows, "q": {"site": site or "", "plate": plate or "", "since": since or "",
                                           "until": until or "", "decision": dec or ""}})


@router.get("/gate/lists", response_class=HTMLResponse)
def lists_page(request: Request, user: Reader, site: str | None = None) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        sites = _sites(s, user)
        site = site if site in sites else (sites[0] if sites else None)
        entries: dict[str, list[GateListEntry]] = {k: [] for k in lists.LISTS}
        st = None
        if site:
            st = lists.get_site(s, site)
            for r in s.scalars(select(GateListEntry).where(GateListEntry.site == site,
                                                           GateListEntry.deleted.is_(False))
                               .order_by(GateListEntry.updated_at.desc()).limit(2000)):
                entries[r.list].append(r)
            s.expunge_all()
    qr_doc = None
    if request.query_params.get("qr"):
        qr_doc = {"token": request.query_params["qr"], "svg": qr.svg(request.query_params["qr"]),
                  "minutes": request.query_params.get("m", ""), "until": request.query_params.get("until", "")}
    tariff = Tariff.model_validate(st.settings.get("tariff", {})) if st else Tariff()
    return _render(request, "gate/lists.html", user, {
        "sites": sites, "site": site, "entries": entries, "st": st, "tariff": tariff,
        "capacity": st.settings.get("capacity_temporary", 0) if st else 0, "qr": qr_doc})


def _back(site: str, **q: str) -> RedirectResponse:
    return RedirectResponse("/gate/lists?" + urlencode({"site": site, **q}), status_code=303)


def _local(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise ValueError(f"not a date and time: {str(value)[:40]}") from None


def _site_for_form(user: User, site: str) -> str:
    if not NAME_RE.fullmatch(site) or not user.sees(site):
        raise ValueError(f"no site {site}")
    return site


@router.post("/gate/lists/{site}/add")
async def add_entry(request: Request, site: str, user: User = Depends(form_user("read"))) -> RedirectResponse:
    form = await request.form()
    lang = _lang(request)
    if not may_edit(user):
        return _back(site, err=TEXTS.t("read_only", lang))
    lst = str(form.get("list", ""))
    try:
        _site_for_form(user, site)
        window = {"valid_from": _local(form.get("valid_from")), "valid_to": _local(form.get("valid_to"))}
        label = str(form.get("label", ""))[:64]
        srv = get_server(request)
        with srv.db.session() as s:
            if lst == "resident":
                v = VehicleIn(plate=str(form.get("plate", "")), label=label, **window)
                lists.upsert(s, site, "resident", v.plate, user.name, plate=v.plate, label=v.label, **window)
            elif lst == "visitor":
                vi = VisitorIn(plate=str(form.get("plate", "")), label=label, **window)  # type: ignore[arg-type]
                lists.upsert(s, site, "visitor", f"v{new_id()[-12:]}", user.name, plate=vi.plate, label=vi.label,
                             **window)
            elif lst == "blacklist":
                p = parse(str(form.get("plate", "")))
                if p.is_none:
                    raise ValueError("a list entry needs a plate")
                lists.upsert(s, site, "blacklist", p.text, user.name, plate=p.text, label=label or "—")
            elif lst == "card":
                c = CardIn(card=str(form.get("card", "")), label=label, **window)
                lists.upsert(s, site, "card", c.card, user.name, label=c.label, **window)
            else:
                raise ValueError(f"unknown list {lst!r}")
            audit(s, user.name, f"gate.{lst}", f"gate/{site}", "ok", via="page")
    except (ValidationError, ValueError, PlateError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return _back(site, err=msg.removeprefix("Value error, ")[:200])
    kick(request)
    return _back(site, msg=TEXTS.t("saved", lang))


@router.post("/gate/lists/{site}/remove")
async def remove_entry(request: Request, site: str, user: User = Depends(form_user("read"))) -> RedirectResponse:
    form = await request.form()
    lang = _lang(request)
    if not may_edit(user):
        return _back(site, err=TEXTS.t("read_only", lang))
    with get_server(request).db.session() as s:
        row = lists.delete(s, site, str(form.get("list", "")), str(form.get("key", "")), user.name)
        if row is not None:
            audit(s, user.name, "gate.remove", f"gate/{site}/{row.list}/{row.key}", "ok", via="page")
    kick(request)
    return _back(site, msg=TEXTS.t("removed", lang))


@router.post("/gate/lists/{site}/settings")
async def save_settings(request: Request, site: str, user: User = Depends(form_user("read"))) -> RedirectResponse:
    form = await request.form()
    lang = _lang(request)
    if not may_edit(user):
        return _back(site, err=TEXTS.t("read_only", lang))
    try:
        tariff = Tariff(free_minutes=int(str(form.get("free_minutes", "0"))),
                        hourly_cents=round(float(str(form.get("hourly", "0"))) * 100),
                        daily_cap_cents=round(float(str(form.get("daily_cap", "0"))) * 100))
        cap = int(str(form.get("capacity", "0")))
        if not 0 <= cap <= 100_000:
            raise ValueError("temporary spaces must be 0…100000")
    except (ValidationError, ValueError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return _back(site, err=msg[:200])
    with get_server(request).db.session() as s:
        lists.set_settings(s, site, tariff, cap)
        audit(s, user.name, "gate.settings", f"gate/{site}", "ok", via="page", capacity=cap)
    kick(request)
    return _back(site, msg=TEXTS.t("saved", lang))


@router.post("/gate/lists/{site}/qr")
async def issue_qr(request: Request, site: str, user: User = Depends(form_user("read"))) -> RedirectResponse:
    form = await request.form()
    lang = _lang(request)
    if not may_edit(user):
        return _back(site, err=TEXTS.t("read_only", lang))
    door = str(form.get("door", "*")).strip() or "*"
    try:
        minutes = max(1, min(7 * 24 * 60, int(str(form.get("minutes", "120")))))
    except ValueError:
        minutes = 120
    expires = utcnow() + timedelta(minutes=minutes)
    try:
        with get_server(request).db.session() as s:
            row = lists.get_site(s, site)
            token = qr.issue(site, door, row.qr_kid, row.qr_key, expires)
            audit(s, user.name, "gate.qr", f"gate/{site}/{door}", "ok", via="page",
                  label=str(form.get("label", ""))[:64])
    except ValueError as exc:
        return _back(site, err=str(exc))
    until = expires.astimezone(SHANGHAI).strftime("%H:%M")
    return _back(site, qr=token, m=str(minutes), until=until, msg=TEXTS.t("qr_issued", lang, m=minutes, until=until))


@router.get("/gate/doors", response_class=HTMLResponse)
def doors(request: Request, user: Reader, site: str | None = None) -> HTMLResponse:
    with get_server(request).db.session() as s:
        sites = _sites(s, user)
        stmt = select(GateDoorEvent).where(GateDoorEvent.site.in_(sites or [""]))
        if site:
            stmt = stmt.where(GateDoorEvent.site == site)
        rows = list(s.scalars(stmt.order_by(GateDoorEvent.at.desc()).limit(300)))
    return _render(request, "gate/doors.html", user, {"rows": rows, "sites": sites, "site": site or ""})
