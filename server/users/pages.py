"""Pages: login / logout, own password, and the admin's user list."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from server.api.deps import client_address, form_user, get_server, require
from server.audit import audit
from server.auth import LoginRefused, User
from server.security.scope import within
from server.users.directory import UserError
from server.users.models import UserAccount
from server.users.sessions import COOKIE
from server.web import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "linli_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only paths on this server (no scheme, no //host) are followed after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, next_: str, error: str = "", status_code: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "ops/login.html", None, {"next": next_, "login_csrf": token, "error": error},
                  status_code=status_code)
    resp.set_cookie(LOGIN_CSRF, token, max_age=3600, httponly=True, samesite="strict", path="/login",
                    secure=get_server(request).settings.http.cookie_secure)
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, _safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)], csrf: Annotated[str, Form(max_length=64)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    srv = get_server(request)
    target = _safe_next(next)
    if not csrf or not hmac.compare_digest(csrf, request.cookies.get(LOGIN_CSRF, "")):
        return _login_page(request, target, "login_expired", 400)
    ip = client_address(request)
    try:
        user = srv.auth.sign_in(username, password, ip)
    except LoginRefused as exc:
        with srv.db.session() as s:
            audit(s, username or "?", "login", f"user/{username}", "denied", ip=ip, reason=exc.reason)
        resp = _login_page(request, target, "login_locked" if exc.reason == "locked" else "login_busy",
                           429 if exc.reason == "locked" else 503)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    if user is None:
        with srv.db.session() as s:
            audit(s, username or "?", "login", f"user/{username}", "denied", ip=ip, reason="wrong name or password")
        return _login_page(request, target, "login_failed", 401)
    token, _info = srv.sessions.create(user.name, ip, request.headers.get("user-agent"))
    with srv.db.session() as s:
        audit(s, user.name, "login", f"user/{user.name}", "ok", ip=ip)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, max_age=int(srv.settings.auth.session_max_h * 3600), httponly=True,
                    samesite="lax", path="/", secure=srv.settings.http.cookie_secure)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


@router.post("/logout")
def logout(request: Request, user: Annotated[User, Depends(form_user())]) -> Response:
    srv = get_server(request)
    token = request.cookies.get(COOKIE)
    if token:
        srv.sessions.delete(token)
    with srv.db.session() as s:
        audit(s, user.name, "logout", f"user/{user.name}", "ok")
    resp = RedirectResponse("/login?" + urlencode({"msg": "logged_out"}), status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, user: Annotated[User, Depends(require("read"))]) -> HTMLResponse:
    return render(request, "ops/account.html", user, {})


@router.post("/account/password")
async def account_password(request: Request, user: Annotated[User, Depends(form_user())],
                           current_password: Annotated[str, Form(max_length=256)],
                           password: Annotated[str, Form(max_length=256)]) -> Response:
    srv = get_server(request)

    def change() -> str:
        with srv.db.session() as s:
            row = s.query(UserAccount).filter(UserAccount.name == user.name).one_or_none()
            if row is None or not srv.auth.verify_hash(row.password_hash, current_password):
                audit(s, user.name, "user.password_change", f"user/{user.name}", "denied", reason="wrong password")
                return "the current password is wrong"
        try:
            srv.auth.set_password(user.name, password)
        except UserError as exc:
            return str(exc)
        with srv.db.session() as s:
            audit(s, user.name, "user.password_change", f"user/{user.name}", "ok")
        return ""

    err = await run_in_threadpool(change)
    if err:
        return RedirectResponse("/account?" + urlencode({"err": err}), status_code=303)
    return RedirectResponse("/login?" + urlencode({"msg": "done_ok"}), status_code=303)


# ------------------------------------------------------------------------------------------ admin: users
Admin = Annotated[User, Depends(require("users", "user.manage"))]


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Admin) -> HTMLResponse:
    accounts = [a for a in get_server(request).auth.list() if within(user, a.sites)]
    return render(request, "ops/users.html", user, {"accounts": accounts})


def _sites(text: str) -> list[str] | None:
    parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
    return parts or None


def _back(err: str = "", msg: str = "") -> RedirectResponse:
    q = urlencode({k: v for k, v in (("err", err), ("msg", msg)) if v})
    return RedirectResponse("/admin/users" + (f"?{q}" if q else ""), status_code=303)


@router.post("/admin/users")
def users_create(request: Request, user: Annotated[User, Depends(form_user("users"))],
                 name: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=256)],
                 role: Annotated[str, Form(max_length=16)], sites: Annotated[str, Form(max_length=2000)] = "",
                 display_name: Annotated[str, Form(max_length=128)] = "") -> Response:
    srv = get_server(request)
    if not within(user, _sites(sites)):
        return _back(err="you may only give accounts sites of your own")
    try:
        acc = srv.auth.create(name.strip(), password, role, _sites(sites), user.name, display_name.strip() or None)
    except UserError as exc:
        return _back(err=str(exc))
    with srv.db.session() as s:
        audit(s, user.name, "user.create", f"user/{acc.name}", "ok", role=acc.role, sites=acc.sites)
    return _back(msg="done_ok")


@router.post("/admin/users/{name}")
def users_update(request: Request, name: str, user: Annotated[User, Depends(form_user("users"))],
                 role: Annotated[str, Form(max_length=16)], sites: Annotated[str, Form(max_length=2000)] = "",
                 display_name: Annotated[str, Form(max_length=128)] = "",
                 active: Annotated[str, Form(max_length=8)] = "") -> Response:
    srv = get_server(request)
    if not within(user, _sites(sites)):
        return _back(err="you may only give accounts sites of your own")
    try:
        acc = srv.auth.update(name, user.name, role=role, sites=_sites(sites), active=bool(active),
                              display_name=display_name.strip())
    except KeyError:
        return _back(err=f"no user {name}")
    except UserError as exc:
        return _back(err=str(exc))
    with srv.db.session() as s:
        audit(s, user.name, "user.update", f"user/{name}", "ok", role=acc.role, sites=acc.sites, active=acc.active)
    return _back(msg="done_ok")


@router.post("/admin/users/{name}/password")
def users_password(request: Request, name: str, user: Annotated[User, Depends(form_user("users"))],
                   password: Annotated[str, Form(max_length=256)]) -> Response:
    srv = get_server(request)
    try:
        srv.auth.set_password(name, password)
    except KeyError:
        return _back(err=f"no user {name}")
    except UserError as exc:
        return _back(err=str(exc))
    with srv.db.session() as s:
        audit(s, user.name, "user.password_reset", f"user/{name}", "ok")
    return _back(msg="done_ok")
