"""The payment provider adapter: how the server talks to a payment platform (WeChat Pay, Alipay, a bank's
aggregator). Amounts are integer fen. A real platform plugs in by implementing :class:`PaymentProvider`; the
built-in :class:`~server.payments.sim.SimProvider` implements it for the demo and the tests.

What every provider must guarantee (the platforms do): ``create_order`` and ``refund`` are idempotent by the
merchant's numbers (``out_trade_no``, ``out_refund_no``), so a retry after a timeout never charges or refunds
twice; a notification is signed, and :meth:`PaymentProvider.parse_notification` raises
:class:`SignatureError` for anything not signed by the platform, so a forged "paid" starts nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


class PaymentError(Exception):
    """The platform refused or failed; the message says what happened."""


class SignatureError(PaymentError):
    """A notification whose signature (or timestamp) does not check out."""


@dataclass(frozen=True)
class OrderRequest:
    out_trade_no: str  #: the merchant's order number (idempotency key)
    amount_fen: int
    description: str
    notify_url: str  #: where the platform sends the signed notification
    return_url: str  #: where the resident's browser goes back after paying
    expires_at: datetime


@dataclass(frozen=True)
class CreatedOrder:
    pay_url: str  #: the platform's cashier page (H5 pay) the resident is sent to
    prepay_id: str


@dataclass(frozen=True)
class Notification:
    out_trade_no: str
    trade_no: str  #: the platform's transaction number
    amount_fen: int
    paid_at: datetime


@dataclass(frozen=True)
class OrderStatus:
    state: Literal["unpaid", "paid", "closed", "refunded"]
    amount_fen: int
    trade_no: str | None = None
    paid_at: datetime | None = None
    refunded_fen: int = 0


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    amount_fen: int
    state: Literal["done", "processing"]


class PaymentProvider(ABC):
    name: str = "provider"
    #: what the notification endpoint answers so that the platform stops resending
    ack_body: bytes = b'{"code":"SUCCESS"}'

    def start(self) -> None:  # noqa: B027 - optional hook
        """Start background work (notification senders of the simulation)."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop background work. Must not raise."""

    @abstractmethod
    def create_order(self, req: OrderRequest) -> CreatedOrder:
        """Open a payment for ``req``. Idempotent by ``out_trade_no``."""

    @abstractmethod
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Check the signature and decode a "paid" notification; :class:`SignatureError` if it is not genuine."""

    @abstractmethod
    def query(self, out_trade_no: str) -> OrderStatus:
        """The order's state at the platform (for notifications that never came)."""

    @abstractmethod
    def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        """Give ``amount_fen`` of a paid order back. Idempotent by ``out_refund_no``."""

    @abstractmethod
    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order (it can no longer be paid). A no-op for one already paid or closed."""


class NoProvider(PaymentProvider):
    """No platform connected: residents see that online payment is not available here."""

    name = "none"

    def create_order(self, req: OrderRequest) -> CreatedOrder:
        raise PaymentError("no payment provider is configured (payments.provider: none)")

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        raise SignatureError("no payment provider is configured")

    def query(self, out_trade_no: str) -> OrderStatus:
        raise PaymentError("no payment provider is configured")

    def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        raise PaymentError("no payment provider is configured")

    def close(self, out_trade_no: str) -> None:
        return None
