"""The touch screen's page, served by the agent for Chromium in kiosk mode on the device.

It needs no password and can do only kiosk things — call, cancel (after asking), try again, leave an optional phone
number, switch language, hear the prompt again — so by default it listens on 127.0.0.1 only (the kiosk's own
browser); the maintenance page stays separate and password-protected. Every asset is served from here (no CDN, no
web fonts); the map is an SVG drawn on the device.

===========================  ===============================================================================
``GET /``                    the whole page (the current screen in the kiosk's language)
``GET /screen?v=N``          long poll: returns as soon as the screen's version is not N (at most ~20 s)
``POST /api/<action>``       call · cancel · ui · phone · dismiss · lang · voice; each answers with the screen
===========================  ===============================================================================

Posts from another origin are refused; bodies are small JSON objects checked by pydantic (422 with the reason).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.runtime.webserver import ThreadedServer
from linli.contract.taxi_kiosk import RequestKey
from linli.websec import SecurityHeaders

from ..orders import Kiosk
from .render import Renderer

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
LONG_POLL_S = 20.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallBody(_Body):
    key: RequestKey


class UiBody(_Body):
    mode: Literal["confirm_cancel", "phone"] | None


class PhoneBody(_Body):
    order_id: str = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    phone: str = Field(max_length=20)


class LangBody(_Body):
    lang: Literal["zh", "en"]


class EmptyBody(_Body):
    pass


def _same_origin(request: Request) -> bool:
    src = request.headers.get("origin")
    if src is None:
        return True  # same-origin fetches of GET-like simplicity; browsers always send Origin on cross-site POSTs
    return src != "null" and urlsplit(src).netloc == request.headers.get("host", "")


def create_app(kiosk: Kiosk, renderer: Renderer) -> FastAPI:
    app = FastAPI(title="linli taxi kiosk", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.add_middleware(SecurityHeaders, csp=CSP, referrer_policy="no-referrer")

    @app.middleware("http")
    async def no_store(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        if not request.url.path.startswith("/static/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    def payload(extra: dict[str, Any] | None = None, map_px: float | None = None) -> JSONResponse:
        snap = kiosk.snapshot()
        body = {"version": snap.version, "screen": snap.screen, "online": snap.online, "lang": snap.lang,
                "html": renderer.body(snap, map_px)}
        if extra:
            body.update(extra)
        return JSONResponse(body)

    async def parse(request: Request, model: type[_Body]) -> Any:
        if not _same_origin(request):
            raise HTTPException(403, "cross-site request refused")
        raw = await request.body()
        if len(raw) > 4096:
            raise HTTPException(413, "body too large")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValueError as exc:
            raise HTTPException(422, f"bad request: {str(exc).splitlines()[-1].strip()[:200]}") from None

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(renderer.page(kiosk.snapshot()))

    @app.get("/screen")
    async def screen(v: int = 0, map_px: float | None = Query(None, ge=100, le=8000)) -> JSONResponse:
        """``map_px``: the map's width as the page measured it, so that its labels are drawn large enough."""
        if map_px is not None:
            renderer.map_px = map_px  # the last screen that asked (there is one on a kiosk)
        await run_in_threadpool(kiosk.wait_change, v, LONG_POLL_S)
        return payload(map_px=map_px)

    @app.post("/api/call")
    async def call(request: Request) -> JSONResponse:
        body: CallBody = await parse(request, CallBody)
        res = await run_in_threadpool(kiosk.call, "screen", body.key)
        return payload({"created": res.created, "refused": res.refused,
                        "order_id": res.order.id if res.order else None})

    @app.post("/api/cancel")
    async def cancel(request: Request) -> JSONResponse:
        await parse(request, EmptyBody)
        o = await run_in_threadpool(kiosk.cancel, "resident")
        return payload({"cancelled": o.id if o else None})

    @app.post("/api/ui")
    async def ui(request: Request) -> JSONResponse:
        body: UiBody = await parse(request, UiBody)
        ok = await run_in_threadpool(kiosk.set_ui, body.mode)
        return payload({"ok": ok})

    @app.post("/api/keypad")
    async def keypad(request: Request) -> JSONResponse:
        await parse(request, EmptyBody)
        kept = await run_in_threadpool(kiosk.keep_question)
        return JSONResponse({"kept": kept}, headers={"Cache-Control": "no-store"})

    @app.post("/api/phone")
    async def phone(request: Request) -> JSONResponse:
        body: PhoneBody = await parse(request, PhoneBody)
        error = await run_in_threadpool(kiosk.set_phone, body.order_id, body.phone)
        return payload({"error": error})

    @app.post("/api/dismiss")
    async def dismiss(request: Request) -> JSONResponse:
        await parse(request, EmptyBody)
        await run_in_threadpool(kiosk.dismiss)
        return payload()

    @app.post("/api/lang")
    async def lang(request: Request) -> JSONResponse:
        body: LangBody = await parse(request, LangBody)
        await run_in_threadpool(kiosk.set_lang, body.lang)
        return payload()

    @app.post("/api/voice")
    async def voice(request: Request) -> JSONResponse:
        await parse(request, EmptyBody)
        await run_in_threadpool(kiosk.repeat_voice)
        return payload()

    return app


class KioskServer(ThreadedServer):
    """The touch screen's server in a daemon thread; stopping ends the screen's open long polls at once."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        super().__init__(app, host, port, "kiosk page", force_exit=True)

    @property
    def url(self) -> str:
        return super().url + "/"
