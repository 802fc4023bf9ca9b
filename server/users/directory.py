"""User accounts in the database: bootstrap from the settings, sign-in checks, and the admin's operations.

``UserDirectory`` is also the server's ``auth`` (it is an ``Authenticator``): ``authenticate(name, password)``
reads the account from the database, so a new user, a reset password or a deactivation counts at once, on every
worker. Successful checks are cached for a while keyed by name, password *and* the stored hash, so a password
reset ends the cached entry by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from linli.contract import NAME_RE, utcnow
from server.auth import ROLES, Authenticator, LoginGuard, Role, User, hash_password
from server.db.engine import Database
from server.settings import UserEntry
from server.users.models import UserAccount, WebSession

log = logging.getLogger(__name__)
USER_NAME_RE = r"^[A-Za-z0-9_.@-]{1,64}$"
MIN_PASSWORD = 8


class UserError(ValueError):
    """A refused change to an account (the message says why)."""


@dataclass(frozen=True)
class Account:
    name: str
    display_name: str | None
    role: Role
    sites: list[str] | None
    active: bool

    @classmethod
    def of(cls, row: UserAccount) -> Account:
        return cls(row.name, row.display_name, row.role, list(row.sites) if row.sites is not None else None,  # type: ignore[arg-type]
                   row.active)


def as_user(row: UserAccount) -> User:
    return User(row.name, row.role, frozenset(row.sites) if row.sites is not None else None,  # type: ignore[arg-type]
                row.display_name)


def check_sites(sites: Iterable[str] | None) -> list[str] | None:
    if sites is None:
        return None
    out = sorted({s.strip() for s in sites if s.strip()})
    bad = [s for s in out if not NAME_RE.fullmatch(s)]
    if bad:
        raise UserError(f"not a site name: {', '.join(bad)} (letters, digits, - and _)")
    return out


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"use at least {MIN_PASSWORD} characters for a password")
    return password


class UserDirectory(Authenticator):
    def __init__(self, db: Database, bootstrap: Iterable[UserEntry], cache_s: float = 300.0,
                 guard: LoginGuard | None = None) -> None:
        super().__init__(bootstrap, cache_s, guard)
        self.db = db

    # ------------------------------------------------------------------------------------------ bootstrap
    def bootstrap(self) -> list[str]:
        """Copy the settings' users that have no account yet into the database. Returns the names added."""
        added = []
        for e in self.entries.values():
            try:
                with self.db.session() as s:
                    if s.scalar(select(UserAccount.id).where(UserAccount.name == e.name)) is not None:
                        continue
                    s.add(UserAccount(name=e.name, display_name=e.display_name, role=e.role, sites=e.sites,
                                      password_hash=e.password_hash, active=True, created_at=utcnow(),
                                      created_by="settings"))
                added.append(e.name)
            except IntegrityError:  # another worker added it at the same moment
                continue
        if added:
            log.info("user accounts created from the settings: %s", ", ".join(added))
        return added

    # ------------------------------------------------------------------------------------------ sign-in
    def remembered(self, name: str, password: str) -> User | None:
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name)).scalar_one_or_none()
            if row is not None:
                s.expunge(row)
        if row is None or not row.active:
            return None
        tag = hmac.new(self._key, f"{name}\x00{password}\x00{row.password_hash}".encode(), hashlib.sha256).digest()
        with self._lock:
            hit = self._cache.get(tag)
            return as_user(row) if hit is not None and hit[0] > time.monotonic() else None

    def authenticate(self, name: str, password: str) -> User | None:
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name)).scalar_one_or_none()
            if row is not None:
                s.expunge(row)
        if row is None or not row.active:
            self.verify_hash(self._dummy_hash(), password)  # same cost: timing does not tell names apart
            return None
        tag = hmac.new(self._key, f"{name}\x00{password}\x00{row.password_hash}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tag)
            if hit is not None and hit[0] > now:
                return as_user(row)
        if not self.verify_hash(row.password_hash, password):
            return None
        with self._lock:
            if len(self._cache) > 1000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[tag] = (now + self.cache_s, name)
        return as_user(row)

    def user(self, name: str) -> User | None:
        """The active account ``name`` as a ``User`` (sessions look users up again on every request)."""
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name)).scalar_one_or_none()
            return as_user(row) if row is not None and row.active else None

    # ------------------------------------------------------------------------------------------ admin
    def list(self) -> list[Account]:
        with self.db.session() as s:
            return [Account.of(r) for r in s.scalars(select(UserAccount).order_by(UserAccount.name))]

    def get(self, name: str) -> Account | None:
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name)).scalar_one_or_none()
            return Account.of(row) if row is not None else None

    def create(self, name: str, password: str, role: str, sites: Iterable[str] | None, by: str,
               display_name: str | None = None) -> Account:
        import re

        if not re.fullmatch(USER_NAME_RE, name):
            raise UserError("user name: 1–64 letters, digits, _ . @ -")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        row = UserAccount(name=name, display_name=(display_name or None), role=role, sites=check_sites(sites),
                          password_hash=hash_password(check_password(password)), active=True, created_at=utcnow(),
                          created_by=by, password_changed_at=utcnow())
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                return Account.of(row)
        except IntegrityError:
            raise UserError(f"user {name} exists already") from None

    def update(self, name: str, by: str, role: str | None = None, sites: Iterable[str] | str | None = "keep",
               active: bool | None = None, display_name: str | None = None) -> Account:
        """Change role, sites (``None`` = every site; ``"keep"`` leaves them), active, display name. An admin
        cannot take away their own admin role or deactivate themselves (someone must be left to fix things)."""
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name).with_for_update()
                            ).scalar_one_or_none()
            if row is None:
                raise KeyError(name)
            if role is not None:
                if role not in ROLES:
                    raise UserError(f"role must be one of {', '.join(ROLES)}")
                if name == by and role != "admin" and row.role == "admin":
                    raise UserError("you cannot take the admin role from yourself")
                row.role = role
            if sites != "keep":
                row.sites = check_sites(sites)  # type: ignore[arg-type]
            if active is not None:
                if name == by and not active:
                    raise UserError("you cannot deactivate yourself")
                row.active = active
                if not active:
                    s.execute(delete(WebSession).where(WebSession.user_name == name))
            if display_name is not None:
                row.display_name = display_name or None
            s.flush()
            return Account.of(row)

    def set_password(self, name: str, password: str) -> None:
        """New password; every session of the user ends (they sign in again)."""
        h = hash_password(check_password(password))
        with self.db.session() as s:
            row = s.execute(select(UserAccount).where(UserAccount.name == name).with_for_update()
                            ).scalar_one_or_none()
            if row is None:
                raise KeyError(name)
            row.password_hash = h
            row.password_changed_at = utcnow()
            s.execute(delete(WebSession).where(WebSession.user_name == name))

    def assignable(self, site: str) -> list[Account]:
        """Active maintenance staff and managers who see ``site`` (work-order assignees)."""
        return [a for a in self.list() if a.active and a.role in ("maintenance", "manager")
                and (a.sites is None or site in a.sites)]
