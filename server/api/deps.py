"""Request dependencies: the running server, the authenticated user, permission checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from linli.contract import NAME_RE, Kind
from server.audit import audit
from server.auth import Permission, User
from server.db.models import Device

if TYPE_CHECKING:
    from server.app import Server


def get_server(request: Request) -> Server:
    return request.app.state.linli  # type: ignore[no-any-return]


def _unauthorized(realm: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                         headers={"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


def current_user(request: Request) -> User:
    """HTTP Basic; 401 with WWW-Authenticate when missing or wrong."""
    srv = get_server(request)
    cached = getattr(request.state, "user", None)
    if isinstance(cached, User):
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise _unauthorized(srv.settings.auth.realm)
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized(srv.settings.auth.realm) from None
    user = srv.auth.authenticate(name, password) if sep else None
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
