"""The parking fee at an exit lane paid from the driver's phone (the exit's QR code): the gate's part of it.

Which car waits: the lane's newest passage, when it is a ``pay`` decision the gate still holds (its telemetry says
the lane waits for payment) and its parking session is open. Paid through :mod:`server.payments`; the paid order
goes through the gate's own payment path (:func:`server.gate.payments.apply_payment`: recorded once by payment
id, then ``session_paid`` to the gate, which opens the barrier when the fee is covered).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.contract import utcnow
from server.commands import effective_state
from server.db.models import Command, Device

from .models import GatePassage, GateSession

if TYPE_CHECKING:
    from server.payments.models import PayOrder
    from server.payments.service import Payments

WAIT_MAX = timedelta(hours=2)  # a pay decision older than this is not "the car at the lane now"


def exit_lanes(s: Session, dev: Device) -> list[str]:
    """The gate's lanes (from its telemetry) less those its passages show to be entries."""
    g = dev.gauges or {}
    lanes = sorted(k[5:-6] for k in g if k.startswith("lane_") and k.endswith("_state"))
    entries = set(s.scalars(select(GatePassage.lane).where(GatePassage.device_id == dev.id,
                                                           GatePassage.direction == "entry").distinct()))
    return [lane for lane in lanes if lane not in entries]


def waiting(s: Session, dev: Device, lane: str) -> dict[str, Any] | None:
    """The car waiting to pay at ``lane`` of gate ``dev``: its session, fee due and times; None if there is none."""
    p = s.scalars(select(GatePassage).where(GatePassage.device_id == dev.id, GatePassage.lane == lane)
                  .order_by(GatePassage.at.desc()).limit(1)).first()
    if p is None or p.decision != "pay" or p.opened or utcnow() - p.at > WAIT_MAX:
        return None
    # telemetry newer than the read that says the lane no longer waits (the car backed away, the guard let it
    # out): nobody to pay for. Older telemetry says nothing about this car.
    g = dev.gauges or {}
    pending = g.get(f"lane_{lane}_pending")
    if pending is not None and pending != "pay" and dev.health_at is not None and dev.health_at > p.at:
        return None
    # the exit read names the session when the gate knew it; else the car's open session at this site
    sess = s.get(GateSession, p.session_id) if p.session_id else s.scalars(
        select(GateSession).where(GateSession.site == dev.site, GateSession.plate == p.plate,
                                  GateSession.state == "open").order_by(GateSession.entry_at.desc()).limit(1)).first()
    if sess is None or sess.state != "open":
        return None
    fee = p.fee_cents or 0
    due = max(0, fee - (sess.paid_cents or 0))
    return {"session_id": sess.id, "plate": sess.plate, "entry_at": sess.entry_at, "read_at": p.at,
            "fee_fen": fee, "paid_fen": sess.paid_cents or 0, "due_fen": due}


class ParkingPurpose:
    """What a paid parking order does: the gate's payment path, then wait for the gate to say it opened."""

    def dispatch(self, pay: Payments, order: PayOrder) -> None:
        from .payments import PaymentIn, apply_payment

        res = apply_payment(pay.srv, PaymentIn(payment_id=order.out_trade_no, site=order.site,
                                               session_id=order.gate_session_id, amount_cents=order.amount_fen,
                                               paid_at=order.paid_at), by="resident:pay")
        if res["state"] == "applied":
            pay.set(order.id, state="opening", command_id=res.get("command_id"), dispatched_at=utcnow())
        else:  # the car left (paid at the booth) or the session is gone: the money goes back
            pay.set(order.id, dispatched_at=utcnow())
            pay.fail(order.id, "parking_" + str(res["state"]), f"gate payment {res['state']}", order.amount_fen)

    def advance(self, pay: Payments, order: PayOrder) -> None:
        if order.state != "opening" or not order.command_id:
            return
        with pay.srv.db.session() as s:
            cmd = s.get(Command, order.command_id)
            state = effective_state(cmd) if cmd is not None else None
            result = dict(cmd.result or {}) if cmd is not None else {}
            error = cmd.error if cmd is not None else None
        if state == "ok":
            pay.set(order.id, state="done", failure=None if result.get("opened", True) else "gate_not_opened")
        elif state in ("error", "expired"):
            # the payment stays recorded on the session (the gate and the booth see it); the page says so
            pay.set(order.id, state="done", failure="gate_no_answer", failure_detail=error)


def opened(s: Session, order: PayOrder) -> bool | None:
    """Whether the gate said it opened for this payment (None: no answer yet)."""
    if not order.command_id:
        return None
    cmd = s.get(Command, order.command_id)
    if cmd is None or effective_state(cmd) != "ok":
        return None
    return bool((cmd.result or {}).get("opened", True))
