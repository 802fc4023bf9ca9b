"""Residents' payments on the server: open an order at the provider, take its signed notification (once, however
often it comes), hand the paid order to what it bought (a charge, a parking fee) and refund what was not used.

What an order bought is a :class:`Purpose`: ``dispatch`` acts on a freshly paid order (send the start, record the
parking payment) and ``advance`` follows it (the pile's answer, the settlement). A background loop runs
``advance`` for open orders, closes unpaid ones after ``order_ttl_s`` and sends due refunds (retried until the
provider confirms; idempotent by refund number, so a retry never refunds twice).

Exactly one dispatch per paid order: the notification moves the row from ``created`` to ``paid`` with one
conditional UPDATE, and only the request that made that change dispatches.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from ulid import ULID

from linli.contract import utcnow
from server.audit import audit
from server.worker import LoopWorker

from . import tokens
from .models import PayOrder
from .provider import NoProvider, Notification, OrderRequest, PaymentError, PaymentProvider, SignatureError
from .settings import PaymentSettings
from .sim import SimProvider

if TYPE_CHECKING:
    from server.app import Server

log = logging.getLogger(__name__)
OPEN_STATES = ("paid", "starting", "running", "opening")
REFUND_RETRY_S = 10.0


class Refused(Exception):
    """The order cannot be made (pile offline, port busy...): ``key`` names the message residents see."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(detail or key)
        self.key = key


class Purpose(Protocol):
    def dispatch(self, pay: Payments, order: PayOrder) -> None: ...

    def advance(self, pay: Payments, order: PayOrder) -> None: ...


@dataclass
class NewOrder:
    purpose: str
    site: str
    device_id: int
    amount_fen: int
    option: str
    description: str
    port: int | None = None
    lane: str | None = None
    minutes: int = 0
    gate_session_id: str | None = None


def make_provider(cfg: PaymentSettings) -> PaymentProvider:
    if cfg.provider == "sim":
        key = cfg.env_or(cfg.notify_secret, cfg.notify_secret_env)
        return SimProvider(cfg.sim, key.encode() if key else secrets.token_bytes(32))
    return NoProvider()


class Payments:
    def __init__(self, srv: Server, purposes: Mapping[str, Purpose], interval_s: float = 0.5) -> None:
        self.srv = srv
        self.cfg: PaymentSettings = srv.settings.payments
        self.provider = make_provider(self.cfg)
        self.purposes = dict(purposes)
        self.interval_s = interval_s
        self._key: bytes | None = None
        self.loop = LoopWorker("payments", self.run_once, interval_s)
        self.counts = {"notifications": 0, "duplicates": 0, "forged": 0, "refunds": 0, "dispatched": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.provider.start()
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        self.provider.stop()

    def kick(self) -> None:
        self.loop.wake()

    @property
    def token_key(self) -> bytes:
        if self._key is None:
            self._key = tokens.resident_key(self.srv.db, self.cfg)
        return self._key

    @property
    def enabled(self) -> bool:
        return not isinstance(self.provider, NoProvider)

    # ------------------------------------------------------------------ orders
    def open(self, new: NewOrder, base_url: str) -> PayOrder:
        """Store the order and open it at the provider; the row (with the cashier URL) is returned detached."""
        if not self.enabled:
            raise Refused("no_provider")
        if new.amount_fen <= 0:
            raise Refused("nothing_due")
        now = utcnow()
        base = (self.cfg.public_url or base_url).rstrip("/")
        row = PayOrder(out_trade_no=f"P{ULID()}", view_key=secrets.token_urlsafe(24), purpose=new.purpose,
                       provider=self.provider.name, site=new.site, device_id=new.device_id, port=new.port,
                       lane=new.lane, gate_session_id=new.gate_session_id, option=new.option, minutes=new.minutes,
                       amount_fen=new.amount_fen, state="created", notifications=0, refund_state="none",
                       refund_fen=0, created_at=now, updated_at=now)
        req = OrderRequest(out_trade_no=row.out_trade_no, amount_fen=new.amount_fen, description=new.description,
                           notify_url=f"{base}/api/v1/payments/notify/{self.provider.name}",
                           return_url=f"{base}/r/o/{row.view_key}",
                           expires_at=now + timedelta(seconds=self.cfg.order_ttl_s))
        try:
            created = self.provider.create_order(req)
        except PaymentError as e:
            raise Refused("provider_error", str(e)) from None
        row.prepay_id, row.pay_url = created.prepay_id, created.pay_url
        with self.srv.db.session() as s:
            s.add(row)
            s.flush()
            s.expunge(row)
        return row

    def order(self, view_key: str) -> PayOrder | None:
        with self.srv.db.session() as s:
            row = s.scalars(select(PayOrder).where(PayOrder.view_key == view_key)).first()
            if row is not None:
                s.expunge(row)
            return row

    def set(self, order_id: int, **values: Any) -> None:
        with self.srv.db.session() as s:
            s.execute(update(PayOrder).where(PayOrder.id == order_id).values(updated_at=utcnow(), **values))

    # ------------------------------------------------------------------ notifications
    def notification(self, provider: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """A provider's notification: verified, applied once; the answer that stops the provider resending.
        Raises :class:`SignatureError` (not genuine) or :class:`LookupError` (no such order)."""
        if provider != self.provider.name or not self.enabled:
            raise SignatureError(f"notification for provider {provider!r}, which is not in use")
        try:
            n = self.provider.parse_notification(headers, body)
        except SignatureError:
            self.counts["forged"] += 1
            raise
        self.counts["notifications"] += 1
        return self.paid(n)

    def paid(self, n: Notification) -> bytes:
        """A genuine payment (from a notification or a query): applied once, however often it is reported.
        Raises :class:`LookupError` for an order this server does not have."""
        now = utcnow()
        with self.srv.db.session() as s:
            row = s.scalars(select(PayOrder).where(PayOrder.out_trade_no == n.out_trade_no)).first()
            if row is None:
                raise LookupError(f"no order {n.out_trade_no}")
            oid, expected, was = row.id, row.amount_fen, row.state
            s.execute(update(PayOrder).where(PayOrder.id == oid)
                      .values(notifications=PayOrder.notifications + 1))
            won = s.execute(update(PayOrder).where(PayOrder.id == oid, PayOrder.state.in_(("created", "closed")))
                            .values(state="paid", trade_no=n.trade_no, paid_at=n.paid_at, notified_at=now,
                                    updated_at=now)).rowcount  # type: ignore[attr-defined]
            if won:
                audit(s, f"payment:{self.provider.name}", "payment.paid", f"{row.purpose}/{row.site}", "ok",
                      out_trade_no=n.out_trade_no, trade_no=n.trade_no, amount_fen=n.amount_fen)
        if not won:
            self.counts["duplicates"] += 1
            return self.provider.ack_body
        if n.amount_fen != expected:
            log.error("payment %s: paid %s fen, order says %s: refunded", n.out_trade_no, n.amount_fen, expected)
            self.fail(oid, "amount_mismatch", f"paid {n.amount_fen} fen for an order of {expected}",
                      refund_fen=n.amount_fen)
        elif was == "closed":
            self.fail(oid, "expired", "paid after the order was closed", refund_fen=expected)
        else:
            self.dispatch(oid)
        self.kick()
        return self.provider.ack_body

    def dispatch(self, order_id: int, reclaim: datetime | None = None) -> None:
        """Hand a paid order to its purpose, once: the claim (``dispatched_at``) is a conditional UPDATE."""
        claim = PayOrder.dispatched_at.is_(None) if reclaim is None else PayOrder.dispatched_at == reclaim
        with self.srv.db.session() as s:
            claimed = s.execute(update(PayOrder).where(PayOrder.id == order_id, PayOrder.state == "paid", claim)
                                .values(dispatched_at=utcnow())).rowcount  # type: ignore[attr-defined]
            row = s.get(PayOrder, order_id) if claimed else None
            if row is None:
                return
            s.expunge(row)
        self.counts["dispatched"] += 1
        self.purposes[row.purpose].dispatch(self, row)

    def fail(self, order_id: int, failure: str, detail: str, refund_fen: int) -> None:
        """The order did not buy what it was for: marked failed, and everything paid goes back."""
        log.warning("payment order %s failed: %s (%s)", order_id, failure, detail)
        with self.srv.db.session() as s:
            s.execute(update(PayOrder).where(PayOrder.id == order_id)
                      .values(state="failed", failure=failure, failure_detail=detail[:500], updated_at=utcnow()))
        self.refund_due(order_id, refund_fen, failure)

    def refund_due(self, order_id: int, fen: int, reason: str) -> None:
        with self.srv.db.session() as s:
            row = s.get(PayOrder, order_id)
            if row is None or row.refund_state != "none":
                return
            if fen <= 0:
                return
            row.refund_state, row.refund_fen, row.refund_reason = "due", min(fen, row.amount_fen), reason
            row.refund_no = f"{row.out_trade_no}R"
            row.updated_at = utcnow()
        self.kick()

    # ------------------------------------------------------------------ the loop
    def run_once(self, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.srv.db.session() as s:
            rows = list(s.scalars(select(PayOrder).where(
                PayOrder.state.in_(("created", *OPEN_STATES)) | (PayOrder.refund_state == "due"))
                .order_by(PayOrder.id).limit(500)))
            s.expunge_all()
        for row in rows:
            try:
                self._step(row, now)
            except Exception:
                log.exception("payment order %s: step failed", row.out_trade_no)

    def _query(self, row: PayOrder, now: datetime) -> bool:
        """Ask the provider about an order still unpaid here (its notification may be lost); True if it was paid."""
        try:
            st = self.provider.query(row.out_trade_no)
        except PaymentError as e:
            log.info("payment %s: query failed: %s", row.out_trade_no, e)
            st = None
        if st is None or st.state not in ("paid", "refunded") or st.trade_no is None:
            self.set(row.id)  # queried now (updated_at): the next query waits query_after_s again
            return False
        log.warning("payment %s: paid at the provider without a notification here; applied from a query",
                    row.out_trade_no)
        self.paid(Notification(row.out_trade_no, st.trade_no, st.amount_fen, st.paid_at or now))
        return True

    def _step(self, row: PayOrder, now: datetime) -> None:
        if row.state == "created":
            expired = now - row.created_at >= timedelta(seconds=self.cfg.order_ttl_s)
            due = now - row.updated_at >= timedelta(seconds=self.cfg.query_after_s)
            if (expired or due) and self._query(row, now):
                return
            if not expired:
                return
            try:
                self.provider.close(row.out_trade_no)
            except PaymentError as e:
                log.info("payment %s: close failed: %s", row.out_trade_no, e)
                return
            with self.srv.db.session() as s:
                s.execute(update(PayOrder).where(PayOrder.id == row.id, PayOrder.state == "created")
                          .values(state="closed", updated_at=now))
            return
        if row.state == "paid" and row.dispatched_at is None and now - (row.notified_at or now) >= timedelta(
                seconds=2):
            self.dispatch(row.id)  # the notification's request died between commit and dispatch
        elif row.state == "paid" and row.dispatched_at is not None and now - row.dispatched_at >= timedelta(
                seconds=self.cfg.start_timeout_s):
            # claimed, but what it did was never recorded (the server stopped in between): done again, which is
            # safe because both purposes are idempotent by the order number (the pile journals started orders,
            # the gate's payment path records a payment id once)
            self.dispatch(row.id, reclaim=row.dispatched_at)
        elif row.state in OPEN_STATES:
            self.purposes[row.purpose].advance(self, row)
        if row.refund_state == "due":
            self._refund(row, now)

    def _refund(self, row: PayOrder, now: datetime) -> None:
        if row.refund_error and now - row.updated_at < timedelta(seconds=REFUND_RETRY_S):
            return
        assert row.refund_no is not None
        try:
            res = self.provider.refund(row.out_trade_no, row.refund_no, row.refund_fen, row.refund_reason or "")
        except PaymentError as e:
            log.warning("payment %s: refund of %s fen failed: %s (retrying)", row.out_trade_no, row.refund_fen, e)
            self.set(row.id, refund_error=str(e)[:500])
            return
        if res.state != "done":
            return
        self.counts["refunds"] += 1
        with self.srv.db.session() as s:
            s.execute(update(PayOrder).where(PayOrder.id == row.id, PayOrder.refund_state == "due")
                      .values(refund_state="done", refunded_at=now, refund_error=None, updated_at=now))
            audit(s, f"payment:{self.provider.name}", "payment.refund", f"{row.purpose}/{row.site}", "ok",
                  out_trade_no=row.out_trade_no, refund_no=row.refund_no, refund_fen=res.amount_fen,
                  reason=row.refund_reason)
