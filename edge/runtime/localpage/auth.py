"""The local page's password: an argon2 hash from the config, a file (password or hash) or an environment variable.

``python -m edge.runtime.localpage.auth`` reads a password (twice, not echoed) and prints its argon2 hash for
``local_page.password_hash``.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
import sys
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.runtime.config import ConfigError, LocalPageConfig
from linli.websec import LoginGuard, LoginRefused

_ph = PasswordHasher()


class PasswordCheck:
    """Checks a username/password pair in constant time.

    argon2 is slow on purpose (tens of ms on a Pi, with 64 MiB of memory); a browser sends the credentials with
    every request, so a pair that verified once is remembered (as a keyed hash, in memory) for the process.
    Everything else goes through ``guard`` (``linli.websec.LoginGuard``): one hash at a time (a spray gets 503
    at once instead of eating the Pi's memory), and wrong passwords lock out the address and the account
    (``LoginRefused``); the page answers 429 while locked.
    """

    def __init__(self, username: str, *, password_hash: str | None = None, password: str | None = None,
                 guard: LoginGuard | None = None) -> None:
        if (password_hash is None) == (password is None):
            raise ValueError("PasswordCheck needs exactly one of password_hash and password")
        if password is not None and not password:
            raise ValueError("the password is empty")
        self.username = username
        self._hash = password_hash
        self._key = secrets.token_bytes(32)
        self._plain = self._mac(username, password) if password is not None else None
        self._good: set[bytes] = set()
        self._lock = threading.Lock()
        self.guard = guard if guard is not None else LoginGuard(max_hashing=1, account_failures=10,
                                                                address_failures=10)

    def _mac(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def check(self, username: str, password: str, address: str = "") -> bool:
        """Right or wrong; raises ``LoginRefused`` (locked, busy) before checking anything it will not check."""
        mac = self._mac(username, password)
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        with self._lock:
            if mac in self._good:
                return user_ok
        self.guard.check(address, username)
        try:
            with self.guard.attempt(address, username):
                ok = self._verify(mac, password) and user_ok
        except LoginRefused:
            self.guard.flooded(address)
            raise
        if not ok:
            self.guard.failed(address, username)
            return False
        self.guard.succeeded(address, username)
        with self._lock:
            if len(self._good) < 64:
                self._good.add(mac)
        return True

    def _verify(self, mac: bytes, password: str) -> bool:
        if self._plain is not None:
            return hmac.compare_digest(mac, self._plain)
        with self.guard.hashing():
            try:
                assert self._hash is not None
                _ph.verify(self._hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        return True

    @classmethod
    def from_config(cls, cfg: LocalPageConfig) -> PasswordCheck:
        """Raises ConfigError (one line naming the key) when the secret cannot be read."""
        if cfg.password_hash is not None:
            return cls(cfg.username, password_hash=cfg.password_hash)
        if cfg.password_env is not None:
            value = os.environ.get(cfg.password_env)
            if not value:
                raise ConfigError(f"local_page.password_env: environment variable {cfg.password_env} is not set")
            return cls._from_secret(cfg.username, value)
        assert cfg.password_file is not None
        try:
            text = cfg.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"local_page.password_file: cannot read {cfg.password_file}: "
                              f"{exc.strerror or exc}") from None
        if not text:
            raise ConfigError(f"local_page.password_file: {cfg.password_file} is empty")
        return cls._from_secret(cfg.username, text)

    @classmethod
    def _from_secret(cls, username: str, value: str) -> PasswordCheck:
        if value.startswith("$argon2"):
            return cls(username, password_hash=value)
        return cls(username, password=value)


def hash_password(password: str) -> str:
    return _ph.hash(password)


def main() -> int:  # pragma: no cover - interactive
    pw = getpass.getpass("password for the local page: ")
    if pw != getpass.getpass("again: "):
        print("the two passwords differ", file=sys.stderr)
        return 1
    if len(pw) < 8:
        print("use at least 8 characters", file=sys.stderr)
        return 1
    print(hash_password(pw))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
