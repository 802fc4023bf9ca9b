"""Ingest handlers for the kiosks' ``taxi.*`` events (run inside ingest's transaction, once per stored event).

They only record what the kiosk said — a new order, a cancellation, a phone number, "send me the state again" —
and wake the dispatcher after the commit; the dispatcher does the rest. Each gets the event's data as the contract's
model (validated by ingest: a malformed event is rejected and counted before it gets here).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event, or_, select, update

from linli import contract
from linli.contract import Kind, utcnow
from linli.contract.taxi_kiosk import (
    OrderCancel,
    OrderPhone,
    OrderRequested,
    OrderSync,
)
from server.db.types import json_safe
from server.ingest.registry import HandlerRegistry, IngestContext

from .dispatch import notify_new_work
from .models import ACTIVE, TaxiOrder, TaxiOrderStep

log = logging.getLogger(__name__)


def _wake_after_commit(ctx: IngestContext) -> None:
    if not ctx.session.info.get("taxi_wake"):
        ctx.session.info["taxi_wake"] = True

        def fire(session: Any) -> None:
            session.info.pop("taxi_wake", None)
            notify_new_work()

        event.listen(ctx.session, "after_commit", fire, once=True)


def _order(ctx: IngestContext, order_id: str, what: str) -> TaxiOrder | None:
    o = ctx.session.get(TaxiOrder, order_id)
    if o is None or o.device_id != ctx.device_id:
        log.warning("%s: %s for unknown order %s ignored", ctx.ref.key, what, order_id)
        return None
    return o


def _step(ctx: IngestContext, order_id: str, step: str, **detail: Any) -> None:
    ctx.session.add(TaxiOrderStep(order_id=order_id, at=ctx.received_at, step=step, detail=json_safe(detail)))


def on_requested(ctx: IngestContext, ev: contract.Event, req: OrderRequested) -> None:
    s = ctx.session
    # one query: this order already (a replay), its key used by another order, or an older order still running
    rows = s.execute(select(TaxiOrder.id, TaxiOrder.request_key, TaxiOrder.state, TaxiOrder.cancel_requested)
                     .where(TaxiOrder.device_id == ctx.device_id,
                            or_(TaxiOrder.id == req.order_id, TaxiOrder.request_key == req.request_key,
                                TaxiOrder.state.in_(ACTIVE)))).all()
    if any(r.id == req.order_id for r in rows):
        return
    if any(r.request_key == req.request_key for r in rows):
        log.warning("%s: order %s reuses request key %s: ignored", ctx.ref.key, req.order_id, req.request_key)
        return
    # one active order per kiosk: the kiosk shows only its newest, so an older one still running is cancelled
    older = [r.id for r in rows if r.state in ACTIVE and r.cancel_requested is None]
    if older:
        s.execute(update(TaxiOrder).where(TaxiOrder.id.in_(older)).values(cancel_requested="superseded"))
        for oid in older:
            _step(ctx, oid, "cancel_requested", reason="superseded", by=req.order_id)
    s.add(TaxiOrder(id=req.order_id, device_id=ctx.device_id, request_key=req.request_key, source=req.source,
                    state="requested", place=req.place.model_dump(mode="json"), phone=req.phone,
                    elderly_priority=req.elderly_priority, requested_at=req.requested_at,
                    received_at=ctx.received_at, stored_at=utcnow(), attempts=0, provider_errors=0, seq=0,
                    resend=False))
    _step(ctx, req.order_id, "requested", source=req.source, event=ev.id)
    _wake_after_commit(ctx)


def on_cancel(ctx: IngestContext, ev: contract.Event, c: OrderCancel) -> None:
    o = _order(ctx, c.order_id, "cancel")
    if o is None:
        return
    _step(ctx, o.id, "cancel_requested", reason=c.reason, state=o.state)
    if o.active and o.cancel_requested is None:
        o.cancel_requested = c.reason
        _wake_after_commit(ctx)


def on_phone(ctx: IngestContext, ev: contract.Event, p: OrderPhone) -> None:
    o = _order(ctx, p.order_id, "phone")
    if o is None:
        return
    o.phone = p.phone
    _step(ctx, o.id, "phone")


def on_sync(ctx: IngestContext, ev: contract.Event, sync: OrderSync) -> None:
    o = _order(ctx, sync.order_id, "sync")
    if o is None:
        return
    if sync.seq < o.seq or o.active:  # behind, or waiting for news: send the state again
        o.resend = True
        _wake_after_commit(ctx)


def register(registry: HandlerRegistry) -> None:
    registry.on_event(Kind.taxi_kiosk, on_requested, types=OrderRequested)
    registry.on_event(Kind.taxi_kiosk, on_cancel, types=OrderCancel)
    registry.on_event(Kind.taxi_kiosk, on_phone, types=OrderPhone)
    registry.on_event(Kind.taxi_kiosk, on_sync, types=OrderSync)
