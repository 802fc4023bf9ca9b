"""/api/v1/payments…: the providers' notification endpoint (public by design: only a notification signed by the
provider is accepted) and the list of residents' payments for staff."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from server.api.deps import get_server, require
from server.auth import User

from .models import PayOrder
from .provider import SignatureError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

# Public by design (no account): these routes are listed with their reasons in server/payments/public.py.


@router.post("/notify/{provider}", summary="Payment provider's signed notification (idempotent by order number)")
async def notify(request: Request, provider: str) -> Response:
    pay = get_server(request).payments
    body = await request.body()
    headers = dict(request.headers)
    try:
        ack = await run_in_threadpool(pay.notification, provider, headers, body)
    except SignatureError as e:
        log.warning("payment notification refused: %s", e)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"notification refused: {e}") from None
    except LookupError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from None
    return Response(ack, media_type="application/json")


def order_view(o: PayOrder) -> dict[str, Any]:
    return {"out_trade_no": o.out_trade_no, "purpose": o.purpose, "provider": o.provider, "site": o.site,
            "port": o.port, "lane": o.lane, "option": o.option, "minutes": o.minutes, "amount_fen": o.amount_fen,
            "state": o.state, "trade_no": o.trade_no, "paid_at": o.paid_at, "notifications": o.notifications,
            "command_id": o.command_id, "failure": o.failure, "failure_detail": o.failure_detail,
            "refund_state": o.refund_state, "refund_fen": o.refund_fen, "refund_reason": o.refund_reason,
            "refunded_at": o.refunded_at, "created_at": o.created_at}


@router.get("/orders", summary="Residents' payments, newest first (charging and parking)")
def orders(request: Request, user: Annotated[User, Depends(require("read"))], site: str | None = None,
           limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with get_server(request).db.session() as s:
        q = select(PayOrder)
        if user.sites is not None:
            q = q.where(PayOrder.site.in_(sorted(user.sites)))
        if site:
            q = q.where(PayOrder.site == site)
        return [order_view(o) for o in s.scalars(q.order_by(PayOrder.id.desc()).limit(limit))]
