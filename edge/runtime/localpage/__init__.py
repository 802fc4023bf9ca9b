"""The local maintenance page of an agent: a small Starlette app served by uvicorn in a thread.

Pages (HTML, Simplified Chinese first, ``?lang=en`` for English, times in Asia/Shanghai) and their JSON twins:

=================  ====================  ==========================================================
page               JSON                  what
=================  ====================  ==========================================================
``/``              ``/api/status``       identity, state, MQTT link, outbox, uptime, versions, app
``/io``            ``/api/io``           ``Hal.snapshot()``: relays, inputs, cameras, serial, speaker
``/events``        ``/api/events``       the last ~200 events emitted (snapshots via ``/blobs/<sha>``)
``/logs``          ``/api/logs``         the log tail
``/config``        ``/api/config``       the effective config, secrets redacted
``POST /actions/<name>`` / ``POST /api/commands/<name>``: the app's safe test actions, through the same command
registry as remote commands (audited as ``local:<username>``). ``/metrics``: Prometheus text.
=================  ====================  ==========================================================

Everything but ``/static`` needs the password (HTTP Basic; wrong passwords lock out the address and the account,
one password hash at a time: ``auth.PasswordCheck``). Form posts from another origin are refused. Every response
carries the browser-hardening headers of ``linli.websec.SecurityHeaders``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge.runtime.config import LocalPageConfig
from edge.runtime.metrics import render
from edge.runtime.webserver import ThreadedServer
from linli.contract import SHA256_RE, label
from linli.i18n import Lang, fmt_ago, fmt_time, pick_lang
from linli.websec import LoginRefused, SecurityHeaders

from .messages import CATALOG, fmt_duration

if TYPE_CHECKING:
    from edge.runtime.agent import Agent

HERE = Path(__file__).parent
#: the levels the logs page filters by ("at least this bad")
LOG_LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL")
log = logging.getLogger(__name__)

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _state_text(kind: Any, state: str, lang: Lang) -> str:
    """The app's state in words, from the kind's state names in the contract (the key itself when it has none)."""
    try:
        lab = label(kind, "states", state)
    except (KeyError, ValueError):
        lab = None
    return lab.text(lang) if lab is not None else state


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))


_env.filters["json"] = _json
_env.filters["shanghai"] = lambda dt: fmt_time(dt)


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (the browser would send the cached Basic credentials along)."""
    src = request.headers.get("origin") or request.headers.get("referer")
    if not src or src == "null":
        return src is None
    return urlsplit(src).netloc == request.headers.get("host", "")


def _plain(value: Any) -> Any:
    """What ``json`` cannot write itself, as JSON: times in ISO 8601, enums by value, paths and the rest as text."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return list(value)
    if hasattr(value, "model_dump"):  # a pydantic model
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Json(JSONResponse):
    """A JSON answer of plain data (see :func:`_plain`); UTF-8, compact, no NaN."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=_plain).encode("utf-8")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """User name and password of an ``Authorization: Basic`` header; None when there is none or it is malformed."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HTTPException(422, f"{name} must be a whole number") from None


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors as ``{"detail": …}`` with their headers (WWW-Authenticate, Retry-After)."""
    assert isinstance(exc, HTTPException)
    return Json({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


Handler = Callable[..., Response | Awaitable[Response] | Any]


def create_app(agent: Agent) -> Starlette:
    """The page's routes on Starlette alone (the agent carries no FastAPI: ~10 MB less on a Pi, see
    bench/lift_guard.py); every route but ``/static`` goes through :func:`user` first, in a worker thread
    (a password check hashes)."""

    def user(request: Request) -> str:
        auth = agent.page_auth
        address = request.client.host if request.client else ""
        creds = _basic_credentials(request)
        try:
            ok = creds is not None and auth is not None and auth.check(creds[0], creds[1], address)
        except LoginRefused as exc:
            code = 429 if exc.reason == "locked" else 503
            raise HTTPException(code, "too many wrong passwords: locked out for now" if code == 429 else
                                "busy checking passwords: try again in a moment",
                                headers={"Retry-After": str(exc.retry_after)}) from None
        if not ok:
            raise HTTPException(401, "password required", headers={"WWW-Authenticate": 'Basic realm="linli", '
                                                                                          'charset="UTF-8"'})
        assert creds is not None
        return creds[0]

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that asks for the password, then runs ``handler(request, username)`` (a plain function in
        a worker thread, a coroutine on the loop); a dict or list it returns is sent as JSON."""

        async def endpoint(request: Request) -> Response:
            username = await run_in_threadpool(user, request)
            if inspect.iscoroutinefunction(handler):
                out = await handler(request, username)
            else:
                out = await run_in_threadpool(handler, request, username)
            return out if isinstance(out, Response) else Json(out)

        return endpoint

    def lang_of(request: Request) -> Lang:
        return pick_lang(request.query_params.get("lang"), request.cookies.get("lang"),
                         request.headers.get("accept-language"))

    def page(request: Request, template: str, active: str, username: str, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        t = CATALOG.bind(lang)
        html = _env.get_template(template).render(
            t=t, lang=lang, other_lang="en" if lang == "zh" else "zh", active=active, user=username,
            ref=agent.ref, kind_name=t(f"kind_{agent.ref.kind.value}"), fmt_time=fmt_time,
            fmt_ago=lambda dt: fmt_ago(dt, lang), fmt_duration=lambda s: fmt_duration(s, lang),
            path=request.url.path, **ctx)
        resp = HTMLResponse(html)
        if request.query_params.get("lang") in ("zh", "en"):
            resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return resp

    # ------------------------------------------------------------------ pages
    def status_page(request: Request, username: str) -> HTMLResponse:
        lang = lang_of(request)
        try:
            fragment = Markup(agent.app.page_fragment(lang))
        except Exception as exc:
            log.exception("app page fragment failed")
            fragment = Markup("<p class='bad'>{}</p>").format(f"{type(exc).__name__}: {exc}")
        flash = None
        cmd_id = request.query_params.get("cmd")
        if cmd_id and agent.runner is not None:
            res = agent.runner.saved_result(cmd_id)
            if res is not None:
                t = CATALOG.bind(lang)
                flash = (res.ok, t("cmd_ok", name=res.name) if res.ok else
                         t("cmd_fail", name=res.name, error=res.error or ""))
        view = agent.status_view()
        return page(request, "status.html", "status", username, s=view, fragment=fragment,
                    flash=flash, boot=agent.boot_time, state_text=_state_text(agent.ref.kind, view["state"], lang))

    def io_page(request: Request, username: str) -> HTMLResponse:
        assert agent.hal is not None
        snap = agent.hal.snapshot()
        others = {k: v for k, v in snap.items() if k not in ("relays", "inputs") and v}
        return page(request, "io.html", "io", username, io=snap, others=others)

    def events_page(request: Request, username: str) -> HTMLResponse:
        events = list(agent.recent_events)
        return page(request, "events.html", "events", username, events=events,
                    cached=lambda sha: agent.blob(sha) is not None)

    def logs_page(request: Request, username: str) -> HTMLResponse:
        """The log tail, newest first; ``?level=warning`` shows warnings and worse only."""
        level = request.query_params.get("level", "").upper()
        level = level if level in LOG_LEVELS else ""
        return page(request, "logs.html", "logs", username, lines=agent.logbuf.tail(200, level or None),
                    level=level, levels=LOG_LEVELS)

    def config_page(request: Request, username: str) -> HTMLResponse:
        text = yaml.safe_dump(agent.effective_config(), allow_unicode=True, sort_keys=False)
        return page(request, "config.html", "config", username, text=text, source=str(agent.loaded.path))

    async def action(request: Request, username: str) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        name = request.path_params["name"]
        form = await request.form()
        args = {k: v for k, v in form.items() if k not in ("lang",) and isinstance(v, str)}
        assert agent.runner is not None
        res = await run_in_threadpool(agent.runner.run_local, name, args, by=f"local:{username}")
        lang = lang_of(request)
        return RedirectResponse(f"/?cmd={quote(res.id)}&lang={lang}", status_code=303)

    # ------------------------------------------------------------------ JSON twins
    def api_status(request: Request, username: str) -> dict[str, Any]:
        return agent.status_view()

    def api_io(request: Request, username: str) -> dict[str, Any]:
        assert agent.hal is not None
        return json.loads(_json(agent.hal.snapshot()))

    def api_events(request: Request, username: str) -> list[dict[str, Any]]:
        limit = _int_param(request, "limit", 50)
        return [e.model_dump(mode="json") for e in list(agent.recent_events)[: max(0, min(limit, 500))]]

    def api_logs(request: Request, username: str) -> list[dict[str, str]]:
        limit = _int_param(request, "limit", 200)
        level = request.query_params.get("level", "")
        if level and level.upper() not in LOG_LEVELS:
            raise HTTPException(422, f"level must be one of {', '.join(LOG_LEVELS)}")
        return [line.as_dict() for line in agent.logbuf.tail(max(0, min(limit, 1000)), level or None)]

    def api_config(request: Request, username: str) -> dict[str, Any]:
        return agent.effective_config()

    def api_commands(request: Request, username: str) -> list[dict[str, Any]]:
        assert agent.runner is not None
        return [{"name": n, "title": s.title, "title_en": s.title_en, "local": s.local,
                 "args_schema": s.args_model.model_json_schema() if s.args_model else None}
                for n, s in sorted(agent.runner.specs.items())]

    async def api_command(request: Request, username: str) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise HTTPException(400, "body must be a JSON object of arguments") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "body must be a JSON object of arguments")
        assert agent.runner is not None
        res = await run_in_threadpool(agent.runner.run_local, request.path_params["name"], body,
                                      by=f"local:{username}")
        return Json(res.model_dump(mode="json"))

    def blob(request: Request, username: str) -> Response:
        sha = request.path_params["sha"]
        data = agent.blob(sha) if SHA256_RE.fullmatch(sha) else None
        if data is None:
            raise HTTPException(404, "not in the recent snapshots")
        media = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "application/octet-stream"
        return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})

    def metrics(request: Request, username: str) -> Response:
        return Response(render(agent.registry), media_type=CONTENT_TYPE_LATEST)

    get = ["GET"]
    routes = [
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        Route("/", guarded(status_page), methods=get),
        Route("/io", guarded(io_page), methods=get),
        Route("/events", guarded(events_page), methods=get),
        Route("/logs", guarded(logs_page), methods=get),
        Route("/config", guarded(config_page), methods=get),
        Route("/actions/{name}", guarded(action), methods=["POST"]),
        Route("/api/status", guarded(api_status), methods=get),
        Route("/api/io", guarded(api_io), methods=get),
        Route("/api/events", guarded(api_events), methods=get),
        Route("/api/logs", guarded(api_logs), methods=get),
        Route("/api/config", guarded(api_config), methods=get),
        Route("/api/commands", guarded(api_commands), methods=get),
        Route("/api/commands/{name}", guarded(api_command), methods=["POST"]),
        Route("/blobs/{sha}", guarded(blob), methods=get),
        Route("/metrics", guarded(metrics), methods=get),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.add_middleware(SecurityHeaders, secure_cookies=False)  # Secure cookies whenever served over HTTPS
    return app


class LocalPage(ThreadedServer):
    """The maintenance page's server in a daemon thread. ``port: 0`` takes a free port (see :attr:`port`)."""

    def __init__(self, agent: Agent, cfg: LocalPageConfig) -> None:
        super().__init__(create_app(agent), cfg.host, cfg.port, "local page",
                         tls_cert_file=cfg.tls_cert_file, tls_key_file=cfg.tls_key_file)
        self.cfg = cfg

    def start(self, timeout: float = 10.0) -> None:
        super().start(timeout)
        log.info("local page on %s", self.url)
