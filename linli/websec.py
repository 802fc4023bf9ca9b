"""Web security shared by the server and the agents' pages.

``SecurityHeaders`` is the one middleware every page of linli runs behind (server, maintenance page, kiosk screen):
a Content-Security-Policy without inline script, ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``,
a Referrer-Policy, and ``Secure`` on every cookie when the request came over TLS (or when told to).

``LoginGuard`` protects password checks: at most ``max_hashing`` argon2 checks run at once (an attempt that finds
no free slot soon is refused as busy, so a spray of wrong passwords cannot eat the memory and the CPU), and wrong
passwords are counted per account *and* per address (independently), each with its own lock-out; spraying many
user names from one address locks the address, and no amount of other traffic clears a lock-out before its time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script anywhere (pages load their scripts from /static); inline style attributes are allowed (bars
#: and meters set their width), which cannot run code.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'")
REFERRER_POLICY = "same-origin"


class SecurityHeaders:
    """Pure ASGI middleware: adds the browser-hardening headers to every HTTP response (a header the app set
    itself wins) and marks cookies ``Secure`` when the request's scheme is https or ``secure_cookies`` is set.
    ``csp_for`` maps a path prefix to its own policy (e.g. FastAPI's /docs, which loads Swagger from a CDN)."""

    def __init__(self, app: ASGIApp, csp: str = CSP, csp_for: Mapping[str, str] | None = None,
                 secure_cookies: bool = False, referrer_policy: str = REFERRER_POLICY) -> None:
        self.app = app
        self.csp = csp
        self.csp_for = dict(csp_for or {})
        self.secure_cookies = secure_cookies
        self.referrer_policy = referrer_policy

    def policy(self, path: str) -> str:
        for prefix, csp in self.csp_for.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return csp
        return self.csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.secure_cookies or scope.get("scheme") == "https"
        csp = self.policy(scope.get("path", "/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (("content-security-policy", csp), ("x-content-type-options", "nosniff"),
                                    ("x-frame-options", "DENY"), ("referrer-policy", self.referrer_policy)):
                    if name not in headers:
                        headers[name] = value
                if secure:
                    cookies = headers.getlist("set-cookie")
                    if cookies and any("secure" not in _attrs(c) for c in cookies):
                        del headers["set-cookie"]
                        for c in cookies:
                            headers.append("set-cookie", c if "secure" in _attrs(c) else c + "; Secure")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _attrs(cookie: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}


# ---------------------------------------------------------------------------------------------- login guard
#: The sign-in (address, account) this thread is checking, for the re-check in ``LoginGuard.hashing``.
_ATTEMPT: ContextVar[tuple[str, str] | None] = ContextVar("linli_login_attempt", default=None)


class LoginRefused(Exception):
    """A sign-in that is not even checked: ``reason`` is ``locked`` (too many wrong passwords for the account or
    from the address) or ``busy`` (every hashing slot taken). ``retry_after`` in seconds."""

    def __init__(self, reason: Literal["locked", "busy"], retry_after: int) -> None:
        super().__init__(f"sign-in refused: {reason} (retry after {retry_after} s)")
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _Count:
    failures: list[float]
    locked_until: float = 0.0


class _Counter:
    """Wrong passwords per key within ``window_s``; ``limit`` of them lock the key for ``lock_s``. At most
    ``max_keys`` keys are kept: the oldest *unlocked* ones go first, so flooding the table with new keys
    never frees a locked one (locked keys are bounded by the attempts it took to lock them)."""

    def __init__(self, limit: int, window_s: float, lock_s: float, max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self.lock_s = lock_s
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Count] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        c = self._keys.get(key)
        return max(0.0, c.locked_until - now) if c is not None else 0.0

    def fail(self, key: str, now: float) -> None:
        c = self._keys.get(key)
        if c is None:
            c = self._keys[key] = _Count([])
        else:
            self._keys.move_to_end(key)
        c.failures = [t for t in c.failures if now - t < self.window_s] + [now]
        if len(c.failures) >= self.limit:
            c.locked_until = max(c.locked_until, now + self.lock_s)
            c.failures.clear()
        self._trim(now)

    def clear(self, key: str) -> None:
        c = self._keys.get(key)
        if c is not None and c.locked_until == 0.0:
            del self._keys[key]
        elif c is not None:
            c.failures.clear()

    def _trim(self, now: float) -> None:
        if len(self._keys) <= self.max_keys:
            return
        for key in list(self._keys):  # oldest first
            if len(self._keys) <= self.max_keys:
                break
            if self._keys[key].locked_until <= now:
                del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)


class LoginGuard:
    """Bounded concurrent password hashing plus per-account and per-address lock-outs (see the module text).
    Thread-safe; one per process."""

    def __init__(self, *, max_hashing: int = 2, wait_s: float = 0.2, account_failures: int = 5,
                 address_failures: int = 20, window_s: float = 300.0, lock_s: float = 300.0,
                 max_keys: int = 50_000) -> None:
        self.wait_s = wait_s
        self._slots = threading.BoundedSemaphore(max_hashing)
        self.max_hashing = max_hashing
        self.accounts = _Counter(account_failures, window_s, lock_s, max_keys)
        self.addresses = _Counter(address_failures, window_s, lock_s, max_keys)
        self._lock = threading.Lock()
        self.refused = {"locked": 0, "busy": 0}

    def check(self, address: str, account: str) -> None:
        """Raise ``LoginRefused('locked')`` when the address or the account is locked out."""
        now = time.monotonic()
        with self._lock:
            wait = max(self.addresses.locked_for(address, now), self.accounts.locked_for(account, now))
            if wait > 0:
                self.refused["locked"] += 1
                raise LoginRefused("locked", int(wait) + 1)

    @contextmanager
    def attempt(self, address: str, account: str) -> Iterator[None]:
        """Marks the sign-in being checked in this thread, so that :meth:`hashing` can look at its lock-out again
        once it has a slot (a lock-out reached while it waited must stop it too)."""
        token = _ATTEMPT.set((address, account))
        try:
            yield
        finally:
            _ATTEMPT.reset(token)

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """A slot for one password hash; ``LoginRefused('busy')`` when none frees up within ``wait_s``, and
        ``LoginRefused('locked')`` when the attempt's address or account was locked out while it waited."""
        if not self._slots.acquire(timeout=self.wait_s):
            with self._lock:
                self.refused["busy"] += 1
            raise LoginRefused("busy", 1)
        try:
            who = _ATTEMPT.get()
            if who is not None:
                self.check(*who)
            yield
        finally:
            self._slots.release()

    def failed(self, address: str, account: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.addresses.fail(address, now)
            self.accounts.fail(account, now)

    def flooded(self, address: str) -> None:
        """An attempt refused as busy counts against its address (not the account: it was never checked), so
        that flooding locks an address as surely as guessing does."""
        with self._lock:
            self.addresses.fail(address, time.monotonic())

    def succeeded(self, address: str, account: str) -> None:
        """A right password clears the account's count of wrong ones (not the address's: a valid account of
        one's own must not reset a spray)."""
        with self._lock:
            self.accounts.clear(account)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"accounts": len(self.accounts), "addresses": len(self.addresses), **self.refused}
