"""Signed notifications: HMAC-SHA256 over ``timestamp \\n nonce \\n body \\n`` (the layout WeChat Pay v3 signs),
in the headers ``Linli-Pay-Timestamp``, ``Linli-Pay-Nonce`` and ``Linli-Pay-Signature`` (base64). A notification
older or newer than the replay window is refused even when its signature is right."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from .provider import SignatureError

TS, NONCE, SIG = "linli-pay-timestamp", "linli-pay-nonce", "linli-pay-signature"
REPLAY_WINDOW_S = 300


def _mac(key: bytes, ts: str, nonce: str, body: bytes) -> str:
    msg = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def sign(key: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(12)
    return {TS: ts, NONCE: nonce, SIG: _mac(key, ts, nonce, body)}


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    h = {k.lower(): v for k, v in headers.items()}
    ts, nonce, sig = h.get(TS, ""), h.get(NONCE, ""), h.get(SIG, "")
    if not (ts and nonce and sig):
        raise SignatureError("notification without signature headers")
    try:
        age = abs((now if now is not None else time.time()) - int(ts))
    except ValueError:
        raise SignatureError("notification timestamp is not a number") from None
    if age > REPLAY_WINDOW_S:
        raise SignatureError(f"notification timestamp {age:.0f} s away from now (replay window {REPLAY_WINDOW_S} s)")
    if not hmac.compare_digest(sig, _mac(key, ts, nonce, body)):
        raise SignatureError("notification signature does not match")
