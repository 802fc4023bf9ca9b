"""The payment provider's callback for parking fees: the body is signed with HMAC-SHA256 (``X-Linli-Signature``,
hex, with ``kinds.gate.payment_secret``) and applied once per ``payment_id`` — to the session it names or the open
session of its plate — and the gate that has the car is told (``session_paid``) so that it opens without asking
for the fee again. A payment for a closed session is kept as ``late``, one that matches nothing as ``unmatched``."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from linli.contract import utcnow
from linli.gate.plates import PlateError, parse
from server.audit import audit
from server.commands import send_command
from server.db.models import Device

from .models import GatePayment, GateSession
from .settings import gate_settings

if TYPE_CHECKING:
    from server.app import Server

SIGNATURE_HEADER = "x-linli-signature"


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=64)
    site: str
    session_id: str | None = Field(None, max_length=64)
    plate: str | None = Field(None, max_length=32)
    amount_cents: int = Field(ge=0, le=10_000_000)
    paid_at: datetime | None = None


class CallbackError(Exception):
    """Why a callback is refused, with the HTTP status to answer."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(srv: Server, body: bytes, signature: str) -> PaymentIn:
    """The payment in a callback body, once its signature is checked; :class:`CallbackError` (503 when no secret is
    configured, 401 for a bad signature, 422 for a bad body) otherwise."""
    secret = gate_settings(srv.settings.kinds).secret()
    if secret is None:
        raise CallbackError(503, "payment callbacks are not configured (kinds.gate.payment_secret)")
    if not hmac.compare_digest(signature, sign(secret, body)):
        raise CallbackError(401, "bad or missing X-Linli-Signature")
    try:
        return PaymentIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise CallbackError(422, f"bad payment: {str(exc)[:300]}") from None


def apply_payment(srv: Server, pay: PaymentIn, by: str = "payment-callback") -> dict[str, Any]:
    """Record an online payment of a parking session (idempotent by ``payment_id``) and, when the car waits at
    an exit, send ``session_paid`` so the gate opens. Used by the provider's callback and by the residents' exit
    page (:mod:`server.resident`), which pays through :mod:`server.payments`."""
    cfg = gate_settings(srv.settings.kinds)
    now = utcnow()
    with srv.db.session() as s:
        old = s.get(GatePayment, pay.payment_id)
        if old is not None:
            return {"payment_id": old.payment_id, "state": old.state, "duplicate": True}
        sess = s.get(GateSession, pay.session_id) if pay.session_id else None
        if sess is None and pay.plate:
            try:
                plate = parse(pay.plate).text
            except PlateError:
                plate = None
            if plate:
                sess = s.execute(select(GateSession).where(GateSession.site == pay.site, GateSession.plate == plate,
                                                           GateSession.state == "open")
                                 .order_by(GateSession.entry_at.desc()).limit(1)).scalar_one_or_none()
        state = "unmatched" if sess is None else ("late" if sess.state == "closed" else "applied")
        row = GatePayment(payment_id=pay.payment_id, site=pay.site, session_id=sess.id if sess else pay.session_id,
                          plate=sess.plate if sess else None, amount_cents=pay.amount_cents, method="online",
                          at=pay.paid_at or now, received_at=now, state=state,
                          device_id=sess.device_id if sess else None)
        s.add(row)
        if sess is not None:
            sess.paid_cents = (sess.paid_cents or 0) + pay.amount_cents
        audit(s, by, "gate.payment_callback", f"gate/{pay.site}", "ok" if sess else "error",
              payment_id=pay.payment_id, state=state, amount_cents=pay.amount_cents)
        dev = s.get(Device, sess.device_id) if sess is not None and state == "applied" else None
        sid, plate_txt = (sess.id, sess.plate) if sess else (None, None)
        if dev is not None:
            s.expunge(dev)
    command_id = None
    if dev is not None:
        args = {"session_id": sid, "plate": plate_txt, "amount_cents": pay.amount_cents,
                "payment_id": pay.payment_id, "method": "online"}
        command_id = send_command(srv.db, srv.link, dev, "session_paid", args, cfg.command_ttl_s, by,
                                  srv.settings.commands.publish_wait_s).command.id
    return {"payment_id": pay.payment_id, "state": state, "session_id": sid, "duplicate": False,
            "command_id": command_id}
