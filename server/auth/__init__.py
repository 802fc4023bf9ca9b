"""Users, roles, passwords and privacy rules.

Accounts live in the database (``server/users/``: admins create users, set role and sites, reset passwords); the
settings' users (``auth.users`` and ``auth.users_file``, argon2 hashes from ``python -m server.auth hash``) are
copied in at start-up when no account of that name exists, which is how the first admin gets in. Pages sign in
with a form and a session cookie; the API also takes HTTP Basic. Roles: ``admin`` (everything, user accounts),
``manager`` (reads, audit log, dispatching and closing work orders), ``maintenance`` (reads, commands, device
config, handling the work orders assigned to them). A user with ``sites`` sees only those sites.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from linli.websec import LoginGuard, LoginRefused

if TYPE_CHECKING:  # this package needs only argon2-cffi at run time (`python -m server.auth hash`)
    from server.settings import UserEntry

Role = Literal["admin", "manager", "maintenance"]
ROLES: tuple[Role, ...] = ("admin", "manager", "maintenance")
Permission = Literal["read", "command", "config", "audit", "users"]

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "command", "config", "audit", "users"}),
    "manager": frozenset({"read", "audit"}),
    "maintenance": frozenset({"read", "command", "config"}),
}

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash for ``auth.users[].password_hash``."""
    if not password:
        raise ValueError("empty password")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    sites: frozenset[str] | None  # None: every site
    display_name: str | None = None

    def can(self, perm: Permission) -> bool:
        return perm in ROLE_PERMISSIONS[self.role]

    def sees(self, site: str) -> bool:
        return self.sites is None or site in self.sites


class Authenticator:
    """Checks user name + password. Successful checks are remembered for ``cache_s`` (keyed by an HMAC with a
    per-process key), so a page that makes many requests does not pay for argon2 on every one.

    ``sign_in`` is what the login form and HTTP Basic call: it goes through ``guard`` (a ``LoginGuard``): locked
    accounts and addresses are refused before any hashing, at most ``guard.max_hashing`` hashes run at once, and
    wrong passwords count against the account and the address."""

    def __init__(self, users: Iterable[UserEntry], cache_s: float = 300.0, guard: LoginGuard | None = None) -> None:
        self.guard = guard if guard is not None else LoginGuard()
        self.entries = {u.name: u for u in users}
        self.cache_s = cache_s
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._dummy: str | None = None  # made on first use, with the users' own argon2 parameters
        self._dummy_lock = threading.Lock()

    def _dummy_hash(self) -> str:
        """A hash to verify against for unknown names, as costly as the real ones, so that timing does not tell
        which names exist. Made once (under a lock, in a hashing slot: a first burst of unknown names must not
        make one each)."""
        if self._dummy is not None:
            return self._dummy
        with self._dummy_lock, self.guard.hashing():
            if self._dummy is not None:
                return self._dummy
            params = None
            for e in self.entries.values():
                try:
                    params = extract_parameters(e.password_hash)
                    break
                except InvalidHashError:
                    continue
            hasher = PasswordHasher.from_parameters(params) if params is not None else _hasher
            self._dummy = hasher.hash(secrets.token_urlsafe(16))
            return self._dummy

    def verify_hash(self, password_hash: str, password: str) -> bool:
        """One argon2 check, in one of the guard's hashing slots (``LoginRefused('busy')`` when none is free)."""
        with self.guard.hashing():
            return verify_password(password_hash, password)

    def sign_in(self, name: str, password: str, address: str) -> User | None:
        """``authenticate`` behind the guard: raises ``LoginRefused`` (locked or busy); a wrong name or password
        (None) counts against the account and the address."""
        hit = self.remembered(name, password)
        if hit is not None:  # verified before (not a guess): no lock-out, no hashing
            return hit
        self.guard.check(address, name)
        try:
            with self.guard.attempt(address, name):
                user = self.authenticate(name, password)
        except LoginRefused:
            self.guard.flooded(address)
            raise
        if user is None:
            self.guard.failed(address, name)
        else:
            self.guard.succeeded(address, name)
        return user

    def _user(self, e: UserEntry) -> User:
        return User(e.name, e.role, frozenset(e.sites) if e.sites is not None else None, e.display_name)

    def remembered(self, name: str, password: str) -> User | None:
        """The user, when this exact pair verified within ``cache_s`` (no hashing)."""
        tag = hmac.new(self._key, f"{name}\x00{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            hit = self._cache.get(tag)
            if hit is not None and hit[0] > time.monotonic() and hit[1] in self.entries:
                return self._user(self.entries[hit[1]])
        return None

    def authenticate(self, name: str, password: str) -> User | None:
        tag = hmac.new(self._key, f"{name}\x00{password}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tag)
            if hit is not None and hit[0] > now and hit[1] in self.entries:
                return self._user(self.entries[hit[1]])
        entry = self.entries.get(name)
        if entry is None:
            self.verify_hash(self._dummy_hash(), password)
            return None
        if not self.verify_hash(entry.password_hash, password):
            return None
        with self._lock:
            if len(self._cache) > 1000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[tag] = (now + self.cache_s, name)
        return self._user(entry)


from server.auth.privacy import can_see_plates, can_see_snapshots, mask_data, mask_plate  # noqa: E402

__all__ = ["ROLES", "ROLE_PERMISSIONS", "Authenticator", "LoginGuard", "LoginRefused", "Permission", "Role", "User",
           "can_see_plates", "can_see_snapshots", "hash_password", "mask_data", "mask_plate", "verify_password"]
