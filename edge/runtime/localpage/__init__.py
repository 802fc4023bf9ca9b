"""The local maintenance page of an agent: a small FastAPI app served by uvicorn in a thread.

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

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import yaml
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST

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


def create_app(agent: Agent) -> FastAPI:
    app = FastAPI(title=f"linli {agent.ref.key}", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    basic = HTTPBasic(auto_error=False, realm="linli")

    app.add_middleware(SecurityHeaders, secure_cookies=False)  # Secure cookies whenever served over HTTPS

    def user(request: Request, creds: HTTPBasicCredentials | None = Depends(basic)) -> str:
        auth = agent.page_auth
        address = request.client.host if request.client else ""
        try:
            ok = creds is not None and auth is not None and auth.check(creds.username, creds.password, address)
        except LoginRefused as exc:
            code = 429 if exc.reason == "locked" else 503
            raise HTTPException(code, "too many wrong passwords: locked out for now" if code == 429 else
                                "busy checking passwords: try again in a moment",
                                headers={"Retry-After": str(exc.retry_after)}) from None
        if not ok:
            raise HTTPException(401, "password required", headers={"WWW-Authenticate": 'Basic realm="linli", '
                                                                                          'charset="UTF-8"'})
        assert creds is not None
        return creds.username

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
    @app.get("/", response_class=HTMLResponse)
    def status_page(request: Request, username: str = Depends(user)) -> HTMLResponse:
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

    @app.get("/io", response_class=HTMLResponse)
    def io_page(request: Request, username: str = Depends(user)) -> HTMLResponse:
        assert agent.hal is not None
        snap = agent.hal.snapshot()
        others = {k: v for k, v in snap.items() if k not in ("relays", "inputs") and v}
        return page(request, "io.html", "io", username, io=snap, others=others)

    @app.get("/events", response_class=HTMLResponse)
    def events_page(request: Request, username: str = Depends(user)) -> HTMLResponse:
        events = list(agent.recent_events)
        return page(request, "events.html", "events", username, events=events,
                    cached=lambda sha: agent.blob(sha) is not None)

    @app.get("/logs", response_class=HTMLResponse)
    def logs_page(request: Request, username: str = Depends(user), level: str = "") -> HTMLResponse:
        """The log tail, newest first; ``?level=warning`` shows warnings and worse only."""
        level = level.upper() if level.upper() in LOG_LEVELS else ""
        return page(request, "logs.html", "logs", username, lines=agent.logbuf.tail(200, level or None),
                    level=level, levels=LOG_LEVELS)

    @app.get("/config", response_class=HTMLResponse)
    def config_page(request: Request, username: str = Depends(user)) -> HTMLResponse:
        text = yaml.safe_dump(agent.effective_config(), allow_unicode=True, sort_keys=False)
        return page(request, "config.html", "config", username, text=text, source=str(agent.loaded.path))

    @app.post("/actions/{name}")
    async def action(name: str, request: Request, username: str = Depends(user)) -> Response:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        form = await request.form()
        args = {k: v for k, v in form.items() if k not in ("lang",) and isinstance(v, str)}
        assert agent.runner is not None
        res = agent.runner.run_local(name, args, by=f"local:{username}")
        lang = lang_of(request)
        return RedirectResponse(f"/?cmd={quote(res.id)}&lang={lang}", status_code=303)

    # ------------------------------------------------------------------ JSON twins
    @app.get("/api/status")
    def api_status(username: str = Depends(user)) -> dict[str, Any]:
        return agent.status_view()

    @app.get("/api/io")
    def api_io(username: str = Depends(user)) -> dict[str, Any]:
        assert agent.hal is not None
        return json.loads(_json(agent.hal.snapshot()))

    @app.get("/api/events")
    def api_events(limit: int = 50, username: str = Depends(user)) -> list[dict[str, Any]]:
        return [e.model_dump(mode="json") for e in list(agent.recent_events)[: max(0, min(limit, 500))]]

    @app.get("/api/logs")
    def api_logs(limit: int = 200, level: str = "", username: str = Depends(user)) -> list[dict[str, str]]:
        if level and level.upper() not in LOG_LEVELS:
            raise HTTPException(422, f"level must be one of {', '.join(LOG_LEVELS)}")
        return [line.as_dict() for line in agent.logbuf.tail(max(0, min(limit, 1000)), level or None)]

    @app.get("/api/config")
    def api_config(username: str = Depends(user)) -> dict[str, Any]:
        return agent.effective_config()

    @app.get("/api/commands")
    def api_commands(username: str = Depends(user)) -> list[dict[str, Any]]:
        assert agent.runner is not None
        return [{"name": n, "title": s.title, "title_en": s.title_en, "local": s.local,
                 "args_schema": s.args_model.model_json_schema() if s.args_model else None}
                for n, s in sorted(agent.runner.specs.items())]

    @app.post("/api/commands/{name}")
    async def api_command(name: str, request: Request, username: str = Depends(user)) -> JSONResponse:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise HTTPException(400, "body must be a JSON object of arguments") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "body must be a JSON object of arguments")
        assert agent.runner is not None
        res = agent.runner.run_local(name, body, by=f"local:{username}")
        return JSONResponse(res.model_dump(mode="json"))

    @app.get("/blobs/{sha}")
    def blob(sha: str, username: str = Depends(user)) -> Response:
        data = agent.blob(sha) if SHA256_RE.fullmatch(sha) else None
        if data is None:
            raise HTTPException(404, "not in the recent snapshots")
        media = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "application/octet-stream"
        return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/metrics")
    def metrics(username: str = Depends(user)) -> Response:
        return Response(render(agent.registry), media_type=CONTENT_TYPE_LATEST)

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
