"""/api/v1/users…: accounts (admin), and /api/v1/me/password (everyone, their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import current_user, get_server, require
from server.audit import audit
from server.auth import Role, User
from server.security.scope import require_grant, within
from server.users.directory import USER_NAME_RE, Account, UserError
from server.users.models import UserAccount

router = APIRouter(prefix="/api/v1", tags=["users"])
UserName = Annotated[str, Path(pattern=USER_NAME_RE, max_length=64)]
SiteList = list[Annotated[str, Field(max_length=48)]]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_In):
    name: str = Field(pattern=USER_NAME_RE, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    sites: SiteList | None = Field(None, max_length=200, description="null: every site")
    display_name: str | None = Field(None, max_length=128)


class UserPatch(_In):
    role: Role | None = None
    sites: SiteList | None = Field(None, max_length=200, description="send null for every site; leave out to keep")
    active: bool | None = None
    display_name: str | None = Field(None, max_length=128)


class PasswordIn(_In):
    password: str = Field(min_length=8, max_length=256)


class OwnPasswordIn(_In):
    current_password: str = Field(max_length=256)
    password: str = Field(min_length=8, max_length=256)


class UserOut(BaseModel):
    name: str
    display_name: str | None
    role: str
    sites: list[str] | None
    active: bool

    @classmethod
    def of(cls, a: Account) -> UserOut:
        return cls(name=a.name, display_name=a.display_name, role=a.role, sites=a.sites, active=a.active)


Admin = Annotated[User, Depends(require("users", "user.manage"))]


def _err(exc: UserError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


@router.get("/users", response_model=list[UserOut], summary="User accounts (admin)")
def list_users(request: Request, user: Annotated[User, Depends(require("users"))]) -> list[UserOut]:
    return [UserOut.of(a) for a in get_server(request).auth.list() if within(user, a.sites)]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Create a user (admin)")
def create_user(request: Request, body: UserIn, user: Admin) -> UserOut:
    srv = get_server(request)
    require_grant(user, body.sites)
    try:
        acc = srv.auth.create(body.name, body.password, body.role, body.sites, user.name, body.display_name)
    except UserError as exc:
        with srv.db.session() as s:
            audit(s, user.name, "user.create", f"user/{body.name}", "error", error=str(exc))
        raise _err(exc) from None
    with srv.db.session() as s:
        audit(s, user.name, "user.create", f"user/{acc.name}", "ok", role=acc.role, sites=acc.sites)
    return UserOut.of(acc)


@router.patch("/users/{name}", response_model=UserOut, summary="Change role, sites, active, display name (admin)")
def patch_user(request: Request, name: UserName, body: UserPatch, user: Admin) -> UserOut:
    srv = get_server(request)
    sites = body.sites if "sites" in body.model_fields_set else "keep"
    if sites != "keep":
        require_grant(user, body.sites)
    try:
        acc = srv.auth.update(name, user.name, role=body.role, sites=sites, active=body.active,
                              display_name=body.display_name)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {name}") from None
    except UserError as exc:
        raise _err(exc) from None
    with srv.db.session() as s:
        audit(s, user.name, "user.update", f"user/{name}", "ok", **body.model_dump(exclude_unset=True))
    return UserOut.of(acc)


@router.post("/users/{name}/password", status_code=status.HTTP_204_NO_CONTENT,
             summary="Reset a user's password (admin); their sessions end")
def reset_password(request: Request, name: UserName, body: PasswordIn, user: Admin) -> None:
    srv = get_server(request)
    try:
        srv.auth.set_password(name, body.password)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {name}") from None
    except UserError as exc:
        raise _err(exc) from None
    with srv.db.session() as s:
        audit(s, user.name, "user.password_reset", f"user/{name}", "ok")


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, summary="Change your own password")
def own_password(request: Request, body: OwnPasswordIn, user: Annotated[User, Depends(current_user)]) -> None:
    srv = get_server(request)
    with srv.db.session() as s:
        row = s.query(UserAccount).filter(UserAccount.name == user.name).one_or_none()
        ok = row is not None and srv.auth.verify_hash(row.password_hash, body.current_password)
        if not ok:
            audit(s, user.name, "user.password_change", f"user/{user.name}", "denied", reason="wrong current password")
    if not ok:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")
    try:
        srv.auth.set_password(user.name, body.password)
    except UserError as exc:
        raise _err(exc) from None
    with srv.db.session() as s:
        audit(s, user.name, "user.password_change", f"user/{user.name}", "ok")
