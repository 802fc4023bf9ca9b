"""Server-rendered pages (Jinja2). Every asset is served from server/web/static; no CDN."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import func, select

from linli.contract import KINDS, CommandInfo, Kind, utcnow
from linli.contract.config_schemas import config_schema
from linli.i18n import SHANGHAI, Lang, fmt_ago, fmt_time, pick_lang
from server.alerts.service import open_alerts
from server.api.deps import csrf_token, find_device, get_server, require, visible
from server.auth import User, can_see_plates, can_see_snapshots, mask_data, mask_plate
from server.commands import effective_state, get_config
from server.db.models import Blob, Command, Device, Event, Telemetry
from server.web import config_form, schema_form
from server.web.humanize import humanizer
from server.web.messages import CATALOG
from server.workorders.flow import OPEN_STATES
from server.workorders.models import WorkOrder
from server.workorders.service import fault_of, overdue, visible_orders

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


ATTENTION_ROWS = 15


@router.get("/", response_class=HTMLResponse)
def index(request: Request, user: Reader) -> HTMLResponse:
    """What needs attention today first: open alarms and faults (work orders, overdue ones on top), offline devices
    and today's alarm events, each a link; then the fleet. The full event history is on /events."""
    srv = get_server(request)
    now = utcnow()
    with srv.db.session() as s:
        devices = list(s.scalars(visible(select(Device), user).order_by(Device.site, Device.kind, Device.device)
                                 .limit(1000)))
        alarm_q = (visible(select(Event, Device).join(Device, Event.device_id == Device.id), user)
                   .where(Event.severity == "alarm", Event.ts >= now - timedelta(hours=24)))
        alarms = s.execute(alarm_q.order_by(Event.ts.desc(), Event.id.desc()).limit(ATTENTION_ROWS)).all()
        n_alarms = s.scalar(select(func.count()).select_from(alarm_q.subquery())) or 0
        blob_ok = _blob_state(s, [e for e, _ in alarms])
        alerts = open_alerts(s, user, limit=ATTENTION_ROWS + 1)  # guard alerts and manager notices
        orders = s.execute(visible_orders(select(WorkOrder, Device).join(Device, WorkOrder.device_id == Device.id)
                                          .where(WorkOrder.state.in_(OPEN_STATES)), user)
                           .order_by(WorkOrder.last_seen_at.desc()).limit(500)).all()
    late = {wo.id: overdue(wo, now) for wo, _ in orders}
    # overdue first, then alarms before warnings, newest first (the sort is stable)
    orders.sort(key=lambda r: (not late[r[0].id], r[0].severity != "alarm"))
    offline = [d for d in devices if d.state != "online"]
    online = len(devices) - len(offline)
    stats = srv.stats.snapshot()
    return _render(request, "index.html", user, {
        "devices": devices, "alarms": alarms, "blob_ok": blob_ok, "orders": orders[:ATTENTION_ROWS],
        "alerts": alerts[:ATTENTION_ROWS], "more_alerts": len(alerts) > ATTENTION_ROWS,
        "late": late, "offline": offline[:ATTENTION_ROWS],
        "more": {"orders": max(0, len(orders) - ATTENTION_ROWS), "offline": max(0, len(offline) - ATTENTION_ROWS),
                 "alarms": max(0, n_alarms - ATTENTION_ROWS)},
        "counts": {"devices": len(devices), "online": online, "offline": len(offline), "alarms": n_alarms,
                   "open_orders": len(orders), "overdue": sum(1 for v in late.values() if v)},
        "ingest": stats,
    })


EVENT_PAGE = 50
SEVERITIES = ("info", "warning", "alarm")


def _local_time(text: str) -> datetime | None:
    """A ``datetime-local`` field (Asia/Shanghai, as people read times) → UTC; '' → None; ValueError if bad."""
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, user: Reader) -> HTMLResponse:
    """Every event the user may see (their sites only), newest first, filtered by site, kind, device, type, severity
    and time, 50 a page (paged on the server by a cursor, like /api/v1/events, which does the query)."""
    from server.api.events import list_events

    q = request.query_params
    f = {k: (q.get(k) or "").strip()[:64] for k in ("site", "kind", "device", "type", "severity", "since", "until",
                                                    "cursor")}
    err = ""
    items: list[Any] = []
    next_cursor = None
    try:
        kind = Kind(f["kind"]) if f["kind"] else None
        if f["severity"] and f["severity"] not in SEVERITIES:
            raise ValueError(f["severity"])
        page = list_events(request, user, site=f["site"] or None, kind=kind, device=f["device"] or None,
                           type=f["type"] or None, severity=f["severity"] or None,  # type: ignore[arg-type]
                           since=_local_time(f["since"]), until=_local_time(f["until"]), limit=EVENT_PAGE,
                           cursor=f["cursor"] or None)
        items, next_cursor = page.items, page.next_cursor
    except (ValueError, HTTPException):
        err = "bad_filter"
    with get_server(request).db.session() as s:
        sites = list(s.scalars(visible(select(Device.site).distinct(), user).order_by(Device.site)))
        shas = sorted({b.sha256 for e in items for b in e.blobs})
        blob_ok = ({sha: purged is None for sha, purged in
                    s.execute(select(Blob.sha256, Blob.purged_at).where(Blob.sha256.in_(shas))).all()}
                   if shas else {})
    keep = {k: v for k, v in f.items() if v and k != "cursor"}
    return _render(request, "events.html", user, {
        "items": items, "f": f, "sites": sites, "severities": SEVERITIES, "blob_ok": blob_ok, "filter_err": err,
        "older": "/events?" + urlencode({**keep, "cursor": next_cursor}) if next_cursor else None,
        "newest": "/events?" + urlencode(keep) if f["cursor"] else None,
    })


def command_picker(kind: str, user: User) -> list[tuple[CommandInfo, list[schema_form.FormField]]]:
    """The kind's commands this user's role may send, each with the typed form of its arguments (from the
    contract's argument model). A command whose arguments have no simple form is left to the JSON form."""
    out = []
    for info in KINDS[Kind(kind)].commands:
        if not info.may_send(user.role):
            continue
        try:
            out.append((info, schema_form.fields(info.args)))
        except schema_form.SchemaFormError:
            continue
    return out


def config_form_of(kind: str) -> config_form.ConfigGroup | None:
    """The desired-config form of a kind (from its config schema in the contract); None for a kind without one."""
    schema = config_schema(kind)
    return config_form.form(schema) if schema is not None else None


@router.get("/devices/{site}/{kind}/{device}", response_class=HTMLResponse)
def device_page(request: Request, user: Reader, site: str, kind: str, device: str) -> HTMLResponse:
    return device_view(request, user, site, kind, device)


def device_view(request: Request, user: User, site: str, kind: str, device: str,
                cfg_text: dict[str, str] | None = None, cfg_errors: dict[str, config_form.Text] | None = None,
                cfg_reason: str = "", status_code: int = 200) -> HTMLResponse:
    """The device page; after a refused config form, with the text that was typed and each field's message."""
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
    cfg_form = config_form_of(dev.kind)
    if cfg_text is None and cfg_form is not None:
        cfg_text = config_form.prefill(cfg_form, config.desired_overrides if config else None)
    return _render(request, "device.html", user, {
        "picker": command_picker(dev.kind, user),
        "dev": dev, "events": events, "telemetry": last, "commands": commands, "config": config,
        "blob_ok": blob_ok, "cmd_state": effective_state, "orders": orders,
        "cfg_form": cfg_form, "cfg_text": cfg_text or {}, "cfg_errors": cfg_errors or {}, "cfg_reason": cfg_reason,
        "cmd_names": cmd_names, "data_view": lambda d: mask_data(d, user),
        "order_for": {wo.fault: wo.id for wo in orders}, "fault_of": fault_of,
    }, status_code=status_code)
