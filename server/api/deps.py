"""Request dependencies: the running server, the authenticated user, permission checks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import HTTPException, Request, status
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from linli.contract import NAME_RE, Kind
from server.audit import audit
from server.auth import LoginRefused, Permission, User
from server.db.models import Device
from server.users.sessions import COOKIE as SESSION_COOKIE

if TYPE_CHECKING:
    from server.app import Server


def get_server(request: Request) -> Server:
    return request.app.state.linli  # type: ignore[no-any-return]


def _unauthorized(realm: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                         headers={"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API): it is sent to the login form instead of a Basic challenge."""
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith("/api/")


def _unauthenticated(request: Request, realm: str) -> HTTPException:
    if wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                             headers={"Location": "/login?" + urlencode({"next": target})})
    return _unauthorized(realm)


def _session_user(request: Request, srv: Server, token: str) -> User:
    info = srv.sessions.lookup(token)
    user = srv.auth.user(info.user_name) if info is not None else None
    if info is None or user is None:
        raise _unauthenticated(request, srv.settings.auth.realm)
    # the API with a session cookie (the pages' scripts): writes must bring the CSRF token in a header
    if (request.method not in SAFE_METHODS and request.url.path.startswith("/api/")
            and not hmac.compare_digest(request.headers.get("x-csrf-token", ""), info.csrf)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong (X-CSRF-Token)")
    request.state.session = info
    request.state.user = user
    return user


def client_address(request: Request) -> str:
    """The peer's address (behind a proxy, uvicorn's ``--forwarded-allow-ips`` makes it the client's)."""
    return request.client.host if request.client else ""


def refused(exc: LoginRefused) -> HTTPException:
    """429 for a lock-out, 503 when every password-hashing slot is busy; both with Retry-After."""
    if exc.reason == "locked":
        return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many wrong passwords: locked out for now",
                             headers={"Retry-After": str(exc.retry_after)})
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "busy checking passwords: try again in a moment",
                         headers={"Retry-After": str(exc.retry_after)})


def csrf_token(request: Request) -> str:
    """The token forms must echo: the session's, or for HTTP Basic users one derived from the user name."""
    info = getattr(request.state, "session", None)
    if info is not None:
        return str(info.csrf)
    user = getattr(request.state, "user", None)
    name = user.name if isinstance(user, User) else ""
    return hmac.new(get_server(request).csrf_key, f"basic\x00{name}".encode(), hashlib.sha256).hexdigest()[:32]


def form_user(perm: Permission | None = None) -> Callable[[Request], Awaitable[User]]:
    """A dependency for page forms (POST): signed in, the form's ``csrf`` field right, and ``perm`` held."""

    async def dep(request: Request) -> User:
        user = await run_in_threadpool(require(perm) if perm else current_user, request)
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf_token(request)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "the form is out of date (CSRF check): reload the page")
        return user

    return dep


def current_user(request: Request) -> User:
    """HTTP Basic (API, scripts) or the session cookie of the pages' login. Without either: 401 with
    WWW-Authenticate, or for a browser asking for a page a redirect to the login form."""
    srv = get_server(request)
    cached = getattr(request.state, "user", None)
    if isinstance(cached, User):
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            return _session_user(request, srv, token)
        raise _unauthenticated(request, srv.settings.auth.realm)
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized(srv.settings.auth.realm) from None
    try:
        user = srv.auth.sign_in(name, password, client_address(request)) if sep else None
    except LoginRefused as exc:
        raise refused(exc) from None
    if user is None:
        raise _unauthorized(srv.settings.auth.realm)
    request.state.user = user
    return user


def require(perm: Permission, action: str | None = None) -> Callable[[Request], User]:
    """A dependency: the user must hold ``perm``. Refusals of state-changing calls (``action`` given) are audited."""

    def dep(request: Request) -> User:
        user = current_user(request)
        if not user.can(perm):
            if action is not None:
                srv = get_server(request)
                target = "/".join(request.path_params.get(k, "") for k in ("site", "kind", "device")).strip("/")
                with srv.db.session() as s:
                    audit(s, user.name, action, target or request.url.path, "denied", role=user.role,
                          reason=f"role {user.role} may not {perm}")
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role} may not {perm}")
        return user

    return dep


def visible(stmt: Select, user: User) -> Select:  # type: ignore[type-arg]
    """Limit a query that involves ``Device`` to the user's sites."""
    if user.sites is None:
        return stmt
    return stmt.where(Device.site.in_(sorted(user.sites)))


def find_device(session: Session, user: User, site: str, kind: str, device: str) -> Device:
    """The device, or 404 (also when the user may not see its site, so ids do not leak)."""
    ok = NAME_RE.fullmatch(site) and NAME_RE.fullmatch(device) and kind in {k.value for k in Kind}
    dev = None
    if ok and user.sees(site):
        dev = session.execute(select(Device).where(Device.site == site, Device.kind == kind, Device.device == device)
                              ).scalar_one_or_none()
    if dev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {site}/{kind}/{device}")
    return dev
