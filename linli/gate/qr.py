"""Door QR codes: issued and signed by the server, verified by the door's agent offline (HMAC-SHA256).

Token text (what the QR code holds): ``LQ1.<site>.<door>.<kid>.<expires>.<nonce>.<sig>``

- ``door`` is a door name or ``*`` (every door of the site); ``kid`` names the signing key (keys rotate);
- ``expires`` is a Unix time (UTC seconds); ``nonce`` 8 random url-safe characters;
- ``sig`` = the first 16 bytes of HMAC-SHA256(key, everything before ``.<sig>``), base64url without padding.

The device holds the site's keys (``{kid: base64url key}``, delivered with the synced lists) and checks the
signature in constant time, then the site, the door and the expiry. No network needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "LQ1"
MAX_TOKEN_CHARS = 200
_TOKEN_RE = re.compile(r"^LQ1\.([a-z0-9][a-z0-9_-]{0,47})\.([a-z0-9_*-]{1,48})\.([A-Za-z0-9_-]{1,16})\.(\d{1,12})\."
                       r"([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{22})$")


class QrError(ValueError):
    """A QR text that does not open the door; the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    return _b64(secrets.token_bytes(32))


def _sign(key: str, body: str) -> str:
    return _b64(hmac.new(_unb64(key), body.encode(), hashlib.sha256).digest()[:16])


def issue(site: str, door: str, kid: str, key: str, expires: datetime) -> str:
    body = f"{PREFIX}.{site}.{door}.{kid}.{int(expires.timestamp())}.{secrets.token_urlsafe(6)[:8]}"
    if not _TOKEN_RE.match(body + "." + "A" * 22):
        raise ValueError(f"cannot issue a QR token for site {site!r}, door {door!r}, key {kid!r}")
    return f"{body}.{_sign(key, body)}"


@dataclass(frozen=True)
class QrGrant:
    site: str
    door: str
    kid: str
    expires: datetime
    nonce: str


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX + ".")


def verify(text: str, keys: dict[str, str], site: str, door: str, now: datetime) -> QrGrant:
    """The grant in ``text``, or :class:`QrError` (bad format, unknown key, bad signature, other site/door,
    expired)."""
    if len(text) > MAX_TOKEN_CHARS:
        raise QrError("QR text too long")
    m = _TOKEN_RE.match(text.strip())
    if not m:
        raise QrError("not a linli QR code")
    t_site, t_door, kid, exp, nonce, sig = m.groups()
    key = keys.get(kid)
    if key is None:
        raise QrError(f"QR code signed with unknown key {kid!r} (lists not synced yet?)")
    body = text.strip().rsplit(".", 1)[0]
    if not hmac.compare_digest(_sign(key, body), sig):
        raise QrError("QR code signature is wrong (forged or altered)")
    if t_site != site:
        raise QrError(f"QR code is for site {t_site!r}")
    if t_door not in ("*", door):
        raise QrError(f"QR code is for door {t_door!r}")
    expires = datetime.fromtimestamp(int(exp), UTC)
    if now >= expires:
        raise QrError(f"QR code expired at {expires.isoformat(timespec='seconds')}")
    return QrGrant(t_site, t_door, kid, expires, nonce)


def svg(token: str) -> str:
    """The QR code of ``token`` as inline SVG (for pages and the API; segno is imported only here, so the door's
    agent, which only verifies, never loads it)."""
    import segno

    buf = io.BytesIO()
    segno.make(token, error="m").save(buf, kind="svg", scale=4, xmldecl=False, svgns=True)
    return buf.getvalue().decode()
