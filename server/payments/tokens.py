"""The signed tokens in the residents' QR codes: which site, pile and port (``c``) or which gate and exit lane
(``g``) a code stands for, with an HMAC so that nobody can make the code of another port or lane.

``payload.signature``, both base64url: the payload is ``c|site|device|port`` or ``g|site|device|lane``; the
signature is the first 12 bytes of HMAC-SHA256 under the server's resident key (settings, else a key made once
and kept in the database, so printed codes survive restarts)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from linli.contract import NAME_RE, utcnow
from server.db.engine import Database

from .models import ResidentKey
from .settings import PaymentSettings

LANE_CHARS = set(string.ascii_letters + string.digits + "_-")


class BadToken(ValueError):
    """A code that was not made by this server (or was damaged)."""


@dataclass(frozen=True)
class Target:
    what: Literal["c", "g"]
    site: str
    device: str
    where: str  #: port number (``c``) or lane name (``g``)

    @property
    def port(self) -> int:
        return int(self.where)


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def resident_key(db: Database, cfg: PaymentSettings) -> bytes:
    configured = cfg.env_or(cfg.token_secret, cfg.token_secret_env)
    if configured:
        return configured.encode()
    with db.session() as s:
        row = s.scalars(select(ResidentKey).order_by(ResidentKey.created_at).limit(1)).first()
        if row is None:
            row = ResidentKey(kid=secrets.token_hex(4), key=secrets.token_hex(32), created_at=utcnow())
            s.add(row)
        key = row.key
    with db.session() as s:  # two servers making one at once: the first row wins for both
        first = s.scalars(select(ResidentKey).order_by(ResidentKey.created_at, ResidentKey.kid).limit(1)).first()
        return (first.key if first is not None else key).encode()


def _sig(key: bytes, payload: bytes) -> str:
    return _b64(hmac.new(key, payload, hashlib.sha256).digest()[:12])


def make(key: bytes, target: Target) -> str:
    payload = "|".join((target.what, target.site, target.device, target.where)).encode()
    return f"{_b64(payload)}.{_sig(key, payload)}"


def check(key: bytes, token: str) -> Target:
    try:
        body, sig = token.split(".")
        payload = _unb64(body)
    except (ValueError, TypeError):
        raise BadToken("not a code of this server") from None
    if not hmac.compare_digest(sig, _sig(key, payload)):
        raise BadToken("code signature does not match")
    parts = payload.decode("utf-8", "replace").split("|")
    if len(parts) != 4 or parts[0] not in ("c", "g"):
        raise BadToken("code payload is not understood")
    what, site, device, where = parts
    if not (NAME_RE.fullmatch(site) and NAME_RE.fullmatch(device)):
        raise BadToken("code names no valid device")
    if what == "c" and not (where.isdigit() and 1 <= int(where) <= 17):
        raise BadToken("code names no valid port")
    if what == "g" and not (where and set(where) <= LANE_CHARS):
        raise BadToken("code names no valid lane")
    return Target(what, site, device, where)  # type: ignore[arg-type]
