"""Server-rendered pages (Jinja2). Every asset is served from server/web/static; no CDN."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from linli.contract import utcnow
from linli.i18n import Lang, fmt_ago, fmt_time, pick_lang
from server.api.deps import find_device, get_server, require, visible
from server.auth import User
from server.commands import effective_state, get_config
from server.db.models import Blob, Command, Device, Event, Telemetry
from server.web.messages import CATALOG

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "linli_lang"

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
Reader = Annotated[User, Depends(require("read"))]


def static_files() -> StaticFiles:
    return StaticFiles(directory=str(STATIC_DIR))


def _lang(request: Request) -> tuple[Lang, bool]:
    q = request.query_params.get("lang")
    lang = pick_lang(q, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return lang, q in ("zh", "en")


def _render(request: Request, name: str, user: User, ctx: dict[str, Any]) -> HTMLResponse:
    lang, remember = _lang(request)
    now = utcnow()
    base = {
        "lang": lang,
        "html_lang": "zh-Hans" if lang == "zh" else "en",
        "other_lang": "en" if lang == "zh" else "zh",
        "t": CATALOG.bind(lang),
        "when": lambda dt: fmt_time(dt),
        "ago": lambda dt: fmt_ago(dt, lang, now),
        "user": user,
    }
    resp = templates.TemplateResponse(request, name, {**base, **ctx})
    if remember:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True,
                        secure=get_server(request).settings.http.cookie_secure)
    resp.headers["Cache-Control"] = "no-store"
    return resp


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
    online = sum(1 for d in devices if d.state == "online")
    stats = srv.stats.snapshot()
    return _render(request, "index.html", user, {
        "devices": devices, "events": events, "blob_ok": blob_ok,
        "counts": {"devices": len(devices), "online": online, "offline": len(devices) - online, "alarms": alarms},
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
    return _render(request, "device.html", user, {
        "dev": dev, "events": events, "telemetry": last, "commands": commands, "config": config,
        "blob_ok": blob_ok, "cmd_state": effective_state,
    })
