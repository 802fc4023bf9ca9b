"""Who may act where, and what browsers are told: site scoping on every route (``scope``), the browser-hardening
headers and Secure cookies on every response (``linli.websec.SecurityHeaders``), and 429/503 answers for sign-ins
the login guard refuses. ``create_app`` calls ``dependencies()`` and ``install``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from linli.websec import CSP, LoginRefused, SecurityHeaders
from server.security.scope import (
    EVERY_SITE,
    EVERY_SITE_ONLY,
    PUBLIC,
    RULES,
    enforce_scope,
    public_reason,
    require_site,
)
from server.settings import Settings

#: The API documentation page (Swagger UI, served by the server itself) starts with an inline script; only it gets
#: this policy (it shows no data).
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'")


def dependencies() -> list[Any]:
    """App-wide dependencies (``FastAPI(dependencies=...)``): the site-scope check before every route."""
    return [Depends(enforce_scope)]


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecurityHeaders, csp=CSP, csp_for={"/docs": DOCS_CSP},
                       secure_cookies=settings.http.cookie_secure)

    @app.exception_handler(LoginRefused)
    async def _refused(_request: Request, exc: LoginRefused) -> JSONResponse:
        code = 429 if exc.reason == "locked" else 503
        return JSONResponse({"detail": str(exc)}, status_code=code, headers={"Retry-After": str(exc.retry_after)})


__all__ = ["EVERY_SITE", "EVERY_SITE_ONLY", "PUBLIC", "RULES", "dependencies", "enforce_scope", "install",
           "public_reason", "require_site"]
