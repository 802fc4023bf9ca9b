"""Server-rendered pages (Jinja2). Every asset is served from server/web/static; no CDN."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import func, select

from linli.contract import Kind, utcnow
from linli.i18n import Lang, fmt_ago, fmt_time, pick_lang
from server.api.deps import csrf_token, find_device, get_server, require, visible
from server.auth import User, can_see_plates, can_see_snapshots, mask_data, mask_plate
from server.commands import effective_state, get_config
from server.db.models import Blob, Command, Device, Event, Telemetry
from server.web.humanize import humanizer
from server.web.messages import CATALOG
from server.workorders.flow import OPEN_STATES
from server.workorders.models import WorkOrder
from server.workorders.service import fault_of, visible_orders

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "linli_lang"

templates = Jinja2Templates(directory=str(HERE / "templates"))
_LAYOUT_LOADER = templates.env.loader


def use_kind_templates(dirs: Iterable[Path]) -> None:
    """Find the device kinds' templates (``server/<kind>/templates/<kind>/…``) beside the layout. Called when the
    app is made, with the folders the kinds declare (``templates=True``)."""
    templates.env.loader = ChoiceLoader([_LAYOUT_LOADER, *(FileSystemLoader(str(d)) for d in dirs)])

router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(STATIC_DIR))


def _lang(request: Request) -> tuple[Lang, bool]:
    q = request.query_params.get("lang")
    lang = pick_lang(q, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return lang, q in ("zh", "en")


def _t(lang: Lang) -> Any:
    """``t(key)``; keys not in the catalogue (a kind's event type, a fault key, a state) are looked up in the
    contract's human names (``server.web.humanize``), never shown as they are."""
    h = humanizer(lang)

    def t(key: str, **kw: object) -> str:
        return CATALOG.t(key, lang, **kw) if key in CATALOG.messages else h.any(key)
    return t


def render(request: Request, name: str, user: User | None, ctx: dict[str, Any], status_code: int = 200
           ) -> HTMLResponse:
    """A page from ``server/web/templates`` with the layout's context (language, texts, times, user, CSRF token,
    privacy flags, navigation). Device kinds may render their own templates with it too."""
    lang, remember = _lang(request)
    now = utcnow()
    base = {
        "lang": lang,
        "html_lang": "zh-Hans" if lang == "zh" else "en",
        "other_lang": "en" if lang == "zh" else "zh",
        "t": _t(lang),
        "h": humanizer(lang),
        "when": lambda dt: fmt_time(dt),
        "ago": lambda dt: fmt_ago(dt, lang, now),
        "user": user,
        "csrf": csrf_token(request) if user is not None else "",
        "has_session": getattr(request.state, "session", None) is not None,
        "see_snapshots": user is not None and can_see_snapshots(user),
        "see_plates": user is not None and can_see_plates(user),
        "mask": mask_plate,
        "path": request.url.path,
        "msg": request.query_params.get("msg", ""),
        "err": request.query_params.get("err", ""),
        "kinds": [k.value for k in Kind],
        "kind_nav": kind_nav(request) if user is not None else [],
    }
    resp = templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)
    if remember:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True,
                        secure=get_server(request).settings.http.cookie_secure)
    resp.headers["Cache-Control"] = "no-store"
    return resp


_render = render


def kind_nav(request: Request) -> list[tuple[str, str]]:
    """(path, kind) of each device kind's top page: the GET route ``/<name>`` on the ``router`` of the kind's
    declared ``pages`` (worked out once per app)."""
    cached = getattr(request.app.state, "kind_nav", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: list[tuple[str, str]] = []
    for kind, router in get_server(request).kinds.page_routers():
        for route in router.routes:
            path = getattr(route, "path", "")
            if "GET" in (getattr(route, "methods", None) or ()) and path.count("/") == 1 and "{" not in path:
                out.append((path, kind.value))
                break
    request.app.state.kind_nav = out
    return out


def _blob_state(session: Any, events: list[Event]) -> dict[str, bool]:
    """sha → file still there (True) or purged (False); unknown shas are left out."""
    shas = {s for e in events for s in e.blobs}
    if not shas:
        return {}
    rows = session.execute(select(Blob.sha256, Blob.purged_at).where(Blob.sha256.in_(sorted(shas)))).all()
    return {sha: purged is None for sha, purged in rows}


@router.get("/", response_class=HTMLResponse)
def index(request: Request, user: Reader) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        devices = list(s.scalars(visible(select(Device), user).order_by(Device.site, Device.kind, Device.device)
                                 .limit(1000)))
        events = s.execute(visible(select(Event, Device).join(Device, Event.device_id == Device.id), user)
                           .order_by(Event.ts.desc(), Event.id.desc()).limit(50)).all()
        alarms = s.scalar(visible(select(func.count()).select_from(Event).join(Device, Event.device_id == Device.id)
                                  .where(Event.severity == "alarm", Event.ts >= utcnow() - timedelta(hours=24)),
                                  user)) or 0
        blob_ok = _blob_state(s, [e for e, _ in events])
        open_orders = s.scalar(visible_orders(select(func.count()).select_from(WorkOrder)
                                              .where(WorkOrder.state.in_(OPEN_STATES)), user)) or 0
    online = sum(1 for d in devices if d.state == "online")
    stats = srv.stats.snapshot()
    return _render(request, "index.html", user, {
        "devices": devices, "events": events, "blob_ok": blob_ok,
        "counts": {"devices": len(devices), "online": online, "offline": len(devices) - online, "alarms": alarms,
                   "open_orders": open_orders},
        "ingest": stats,
    })


@router.get("/devices/{site}/{kind}/{device}", response_class=HTMLResponse)
def device_page(request: Request, user: Reader, site: str, kind: str, device: str) -> HTMLResponse:
    srv = get_server(request)
    with srv.db.session() as s:
        dev = find_device(s, user, site, kind, device)
        events = list(s.scalars(select(Event).where(Event.device_id == dev.id)
                                .order_by(Event.ts.desc(), Event.id.desc()).limit(50)))
        last = s.scalars(select(Telemetry).where(Telemetry.device_id == dev.id)
                         .order_by(Telemetry.ts.desc()).limit(1)).first()
        commands = list(s.scalars(select(Command).where(Command.device_id == dev.id)
                                  .order_by(Command.created_at.desc()).limit(20)))
        config = get_config(s, dev)
        blob_ok = _blob_state(s, events)
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.device_id == dev.id,
                                                        WorkOrder.state.in_(OPEN_STATES))
                                .order_by(WorkOrder.id.desc())))
        cmd_names = sorted(set(s.scalars(select(Command.name).join(Device, Command.device_id == Device.id)
                                         .where(Device.kind == dev.kind).distinct().limit(50))))
    overrides = json.dumps(config.desired_overrides if config and config.desired_overrides else {},
                           ensure_ascii=False, indent=2)
    return _render(request, "device.html", user, {
        "dev": dev, "events": events, "telemetry": last, "commands": commands, "config": config,
        "blob_ok": blob_ok, "cmd_state": effective_state, "orders": orders, "overrides": overrides,
        "cmd_names": cmd_names, "data_view": lambda d: mask_data(d, user),
        "order_for": {wo.fault: wo.id for wo in orders}, "fault_of": fault_of,
    })
