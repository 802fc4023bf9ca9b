"""Charger events into orders: a session start opens an order, a settlement bills it once (by order id) and marks
a ``settle_ack`` due, which :mod:`server.charger.worker` sends to the device. A resent settlement (the device did
not get the ack) bills nothing again and only makes the ack due again."""

from __future__ import annotations

import logging

from sqlalchemy import select

from linli import contract
from linli.contract import Kind
from linli.contract.charger import SessionStarted, Settlement
from server.db import rollups
from server.ingest.registry import HandlerRegistry, IngestContext

from .models import ChargerDay, ChargerOrder

log = logging.getLogger(__name__)


def _order(ctx: IngestContext, order_id: str) -> ChargerOrder | None:
    return ctx.session.execute(select(ChargerOrder).where(ChargerOrder.order_id == order_id)
                               .with_for_update()).scalar_one_or_none()


def on_started(ctx: IngestContext, ev: contract.Event, d: SessionStarted) -> None:
    if _order(ctx, d.order_id) is not None:
        return
    ctx.session.add(ChargerOrder(order_id=d.order_id, device_id=ctx.device_id, port=d.port, source=d.source,
                                 user=d.user, mode=d.mode, tariff_version=d.tariff_version,
                                 prepaid_fen=d.prepaid_fen, state="running", started_at=d.started_at, resumed=0,
                                 settlements_received=0, ack_due=False, acks_sent=0))
    ctx.session.flush()


def on_settlement(ctx: IngestContext, ev: contract.Event, d: Settlement) -> None:
    row = _order(ctx, d.order_id)
    if row is None:
        row = ChargerOrder(order_id=d.order_id, device_id=ctx.device_id, port=d.port, source=d.source, user=d.user,
                           mode=d.mode, tariff_version=d.tariff_version, prepaid_fen=d.prepaid_fen,
                           state="running", started_at=d.started_at, resumed=0, settlements_received=0,
                           ack_due=False, acks_sent=0)
        ctx.session.add(row)
    if row.device_id != ctx.device_id:
        log.warning("charger %s: settlement for order %s of another device ignored", ctx.ref.key, d.order_id)
        return
    row.settlements_received = (row.settlements_received or 0) + 1
    row.ack_due = True
    if row.state != "settled":  # billed once, whatever the number of resends
        row.state = "settled"
        row.started_at = d.started_at
        row.ended_at = d.ended_at
        row.charged_s = d.charged_s
        row.energy_wh = d.energy_wh
        row.max_power_w = d.max_power_w
        row.tier_w = d.tier_w
        row.amount_fen = d.amount_fen
        row.refund_fen = d.refund_fen
        row.stop_reason = d.stop_reason
        row.resumed = d.resumed
        row.settled_at = ctx.received_at
        row.settlement_event_id = ev.id
        billed = ChargerDay.contribution(row)
        if billed is not None:
            rollups.add(ctx.session, ChargerDay, [billed])
    ctx.session.flush()


def register(registry: HandlerRegistry) -> None:
    registry.on_event(Kind.charger, on_started, types=SessionStarted)
    registry.on_event(Kind.charger, on_settlement, types=Settlement)
