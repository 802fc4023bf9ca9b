"""The built-in simulated payment provider, for the demo, the tests and the benchmark (as the taxi fleet is
simulated in :mod:`server.taxi_kiosk.simfleet`).

It behaves as the platforms do: ``create_order`` gives a cashier URL (here a page of this server under
``/pay/sim/``, marked as a simulation); when the resident confirms there, the order is paid and the provider sends
the signed notification to the order's ``notify_url`` over real HTTP from a thread of its own, resending with
back-off until the server answers success (so a notification may well arrive twice). Refunds are recorded and
idempotent by refund number. Tests may resend a notification (:meth:`SimProvider.renotify`) or forge one.

The cashier pages are public by design (``PUBLIC_BY_DESIGN``): they stand for the platform's own pages, and
an order is reached only through its unguessable prepay id.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from ulid import ULID

from linli.contract import utcnow

from . import signing
from .provider import (
    CreatedOrder,
    Notification,
    OrderRequest,
    OrderStatus,
    PaymentError,
    PaymentProvider,
    RefundResult,
    SignatureError,
)
from .settings import SimPaySettings

log = logging.getLogger(__name__)

# Public by design (no account): these routes are listed with their reasons in server/payments/public.py.


@dataclass
class SimOrder:
    req: OrderRequest
    prepay_id: str
    state: str = "unpaid"  # unpaid | paid | closed
    trade_no: str | None = None
    paid_at: datetime | None = None
    refunds: dict[str, int] = field(default_factory=dict)
    notified: int = 0


class SimProvider(PaymentProvider):
    name = "sim"

    def __init__(self, cfg: SimPaySettings, key: bytes) -> None:
        self.cfg = cfg
        self.key = key
        self.orders: dict[str, SimOrder] = {}
        self.by_prepay: dict[str, str] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def stop(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(2)

    # ------------------------------------------------------------------ the adapter
    def create_order(self, req: OrderRequest) -> CreatedOrder:
        if req.amount_fen <= 0:
            raise PaymentError("amount must be at least 1 fen")
        with self.lock:
            o = self.orders.get(req.out_trade_no)
            if o is None:
                o = SimOrder(req, secrets.token_urlsafe(18))
                self.orders[req.out_trade_no] = o
                self.by_prepay[o.prepay_id] = req.out_trade_no
            elif o.req.amount_fen != req.amount_fen:
                raise PaymentError(f"order {req.out_trade_no} exists with another amount")
        return CreatedOrder(pay_url=f"/pay/sim/{o.prepay_id}", prepay_id=o.prepay_id)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        signing.verify(self.key, headers, body)
        try:
            doc = json.loads(body)
            if doc.get("trade_state") != "SUCCESS":
                raise ValueError(f"trade_state {doc.get('trade_state')!r}")
            return Notification(out_trade_no=str(doc["out_trade_no"]), trade_no=str(doc["trade_no"]),
                                amount_fen=int(doc["amount_fen"]), paid_at=datetime.fromisoformat(doc["paid_at"]))
        except (ValueError, KeyError, TypeError) as e:
            raise SignatureError(f"signed notification that cannot be read: {e}") from None

    def query(self, out_trade_no: str) -> OrderStatus:
        with self.lock:
            o = self.orders.get(out_trade_no)
            if o is None:
                raise PaymentError(f"no order {out_trade_no}")
            refunded = sum(o.refunds.values())
            state = "refunded" if refunded and refunded >= o.req.amount_fen else o.state
            return OrderStatus(state, o.req.amount_fen, o.trade_no, o.paid_at, refunded)  # type: ignore[arg-type]

    def refund(self, out_trade_no: str, out_refund_no: str, amount_fen: int, reason: str) -> RefundResult:
        with self.lock:
            o = self.orders.get(out_trade_no)
            if o is None or o.state != "paid":
                raise PaymentError(f"order {out_trade_no} is not paid")
            if out_refund_no not in o.refunds:
                if amount_fen <= 0 or sum(o.refunds.values()) + amount_fen > o.req.amount_fen:
                    raise PaymentError(f"refund of {amount_fen} fen is more than what is left of the order")
                o.refunds[out_refund_no] = amount_fen
            return RefundResult(out_refund_no, o.refunds[out_refund_no], "done")

    def close(self, out_trade_no: str) -> None:
        with self.lock:
            o = self.orders.get(out_trade_no)
            if o is not None and o.state == "unpaid":
                o.state = "closed"

    # ------------------------------------------------------------------ the simulated platform
    def pay(self, prepay_id: str) -> SimOrder:
        """The resident confirmed on the cashier page: paid, and the notification goes out."""
        with self.lock:
            oid = self.by_prepay.get(prepay_id)
            o = self.orders.get(oid) if oid else None
            if o is None:
                raise PaymentError("no such payment")
            if o.state == "closed":
                raise PaymentError("this payment was closed")
            fresh = o.state == "unpaid"
            if fresh:
                o.state, o.trade_no, o.paid_at = "paid", f"SIM{ULID()}", utcnow()
        if fresh:
            self._spawn(o)
        return o

    def notification(self, o: SimOrder) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"out_trade_no": o.req.out_trade_no, "trade_no": o.trade_no,
                           "amount_fen": o.req.amount_fen, "trade_state": "SUCCESS",
                           "paid_at": o.paid_at.isoformat() if o.paid_at else None}).encode()
        return body, {"content-type": "application/json", **signing.sign(self.key, body)}

    def renotify(self, out_trade_no: str) -> int:
        """Send the notification of a paid order once more, at once (a platform's resend); the HTTP status."""
        o = self.orders[out_trade_no]
        body, headers = self.notification(o)
        r = httpx.post(o.req.notify_url, content=body, headers=headers, timeout=10)
        return r.status_code

    def _spawn(self, o: SimOrder) -> None:
        t = threading.Thread(target=self._notify, args=(o,), name=f"simpay-{o.req.out_trade_no}", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _notify(self, o: SimOrder) -> None:
        if self._stop.wait(self.cfg.notify_delay_s) or self.cfg.lose_notifications:
            return
        wait = self.cfg.notify_backoff_s
        for attempt in range(1, self.cfg.notify_tries + 1):
            body, headers = self.notification(o)
            try:
                r = httpx.post(o.req.notify_url, content=body, headers=headers, timeout=10)
                o.notified += 1
                if r.status_code == 200:
                    return
                log.info("sim pay: notification %s answered %s (try %d)", o.req.out_trade_no, r.status_code, attempt)
            except httpx.HTTPError as e:
                log.info("sim pay: notification %s failed: %s (try %d)", o.req.out_trade_no, e, attempt)
            if self._stop.wait(wait):
                return
            wait *= 2
        log.warning("sim pay: notification %s given up after %d tries", o.req.out_trade_no, self.cfg.notify_tries)


# ---------------------------------------------------------------------- the cashier page (the platform's)
router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>模拟支付 Simulated payment</title>
<style>body{{font:20px/1.5 system-ui,sans-serif;margin:0;background:#f2f2f2;color:#222}}
main{{max-width:480px;margin:0 auto;padding:16px}}.card{{background:#fff;border-radius:12px;padding:20px}}
.amt{{font-size:44px;font-weight:700;margin:8px 0}}button{{width:100%;font-size:22px;padding:14px;border:0;
border-radius:10px;background:#07a35a;color:#fff;margin-top:16px}}.sim{{color:#a60;font-size:16px}}</style></head>
<body><main><div class="card"><p class="sim">模拟支付平台（演示用，不会真的扣款）· Simulated provider</p>
<p>{desc}</p><p class="amt">¥{yuan}</p><p>{state}</p>{form}</div></main></body></html>"""


def _sim(request: Request) -> SimProvider:
    prov = getattr(getattr(request.app.state.linli, "payments", None), "provider", None)
    if not isinstance(prov, SimProvider):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the simulated payment provider is not in use")
    return prov


def _order(prov: SimProvider, prepay_id: str) -> SimOrder:
    oid = prov.by_prepay.get(prepay_id)
    if oid is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such payment")
    return prov.orders[oid]


@router.get("/pay/sim/{prepay_id}", response_class=HTMLResponse)
def cashier(request: Request, prepay_id: str) -> HTMLResponse:
    o = _order(_sim(request), prepay_id)
    form = ""
    if o.state == "unpaid":
        form = (f'<form method="post" action="/pay/sim/{escape(prepay_id)}/confirm">'
                '<button type="submit" id="confirm">确认支付 Pay</button></form>')
    state = {"unpaid": "请确认付款", "paid": "已支付", "closed": "订单已关闭"}[o.state]
    return HTMLResponse(PAGE.format(desc=escape(o.req.description), yuan=f"{o.req.amount_fen / 100:.2f}",
                                    state=state, form=form))


@router.post("/pay/sim/{prepay_id}/confirm")
def confirm(request: Request, prepay_id: str) -> Any:
    prov = _sim(request)
    _order(prov, prepay_id)
    try:
        o = prov.pay(prepay_id)
    except PaymentError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
    return RedirectResponse(o.req.return_url, status_code=303)
