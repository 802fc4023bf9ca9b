"""Ingest handlers for the lift guards' ``lift.*`` events (inside ingest's transaction, once per stored event).

Each handler gets the event's data as the model the contract declares for its type (``linli.contract.lift_guard``),
validated by ingest; an event whose data does not validate is rejected (and counted) before it gets here.
Alarms (faults, longest-hold releases) become work orders through the spine's work-order handler, keyed by
``data.fault``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from linli import contract
from linli.contract import Kind
from linli.contract import lift_guard as lev
from linli.i18n import SHANGHAI
from server.db import rollups
from server.ingest.registry import HandlerRegistry, IngestContext

from .models import LiftBlock, LiftBlockDay, LiftFault, LiftPause, outcome_sql

log = logging.getLogger(__name__)
STAFF_REASONS = frozenset({"remote", "local"})


def shanghai_day(ts: datetime) -> str:
    return ts.astimezone(SHANGHAI).date().isoformat()


def _block(ctx: IngestContext, block_id: str) -> LiftBlock | None:
    row = ctx.session.get(LiftBlock, block_id)
    if row is not None and row.device_id != ctx.device_id:
        log.warning("%s: block %s belongs to another device; ignored", ctx.ref.key, block_id)
        return None
    if row is None:
        row = LiftBlock(block_id=block_id, device_id=ctx.device_id, cls="", staff_release=False, alarm=False)
        ctx.session.add(row)
    return row


def _recount(ctx: IngestContext, row: LiftBlock, before: dict[str, Any] | None) -> None:
    """Keep ``lift_block_days`` equal to the blocks: take the block's contribution as it was (``before``) out and
    put its contribution as it is now in. The largest latency of the day it leaves cannot be subtracted: that row's
    maximum is asked again of the blocks themselves (a few rows of one lift and day, by index)."""
    after = LiftBlockDay.contribution(row)
    if before == after:
        return
    out = {**before, "n": -1, "latency_n": -before["latency_n"], "latency_us": -before["latency_us"],
           "latency_max": None} if before is not None else None
    rollups.add(ctx.session, LiftBlockDay, [r for r in (out, after) if r is not None])
    key = ("day", "device_id", "outcome")
    t = LiftBlockDay
    if before is not None and (after is None or any(before[k] != after[k] for k in key)):
        # the row the block left: gone if it was the only one (as the rows made from the blocks would be)
        ctx.session.execute(delete(t).where(t.day == before["day"], t.device_id == before["device_id"],
                                            t.outcome == before["outcome"], t.n == 0))
    if before is None or before["latency_max"] is None or (
            after is not None and all(before[k] == after[k] for k in key) and after["latency_max"] is not None
            and after["latency_max"] >= before["latency_max"]):
        return
    ctx.session.flush()
    start = rollups.day_start(date.fromisoformat(before["day"]))
    longest = (select(func.max(LiftBlock.latency_ms))
               .where(LiftBlock.device_id == before["device_id"], LiftBlock.started_at >= start,
                      LiftBlock.started_at < start + timedelta(days=1), outcome_sql() == before["outcome"])
               .scalar_subquery())
    ctx.session.execute(update(t).where(t.day == before["day"], t.device_id == before["device_id"],
                                        t.outcome == before["outcome"]).values(latency_max=longest))


def on_block(ctx: IngestContext, ev: contract.Event, d: lev.BlockStarted) -> None:
    row = _block(ctx, d.block_id)
    if row is None:
        return
    before = LiftBlockDay.contribution(row)
    row.started_at = ev.ts
    row.day = shanghai_day(ev.ts)
    row.cls, row.label, row.score = d.cls, d.label, d.score
    row.best_score = max(row.best_score or 0.0, d.score)
    row.latency_ms = d.latency_ms
    row.model = d.model or None
    row.snapshot = ev.blobs[0] if ev.blobs else None
    row.crop = ev.blobs[1] if d.crop and len(ev.blobs) > 1 else None
    row.classifier = d.classifier
    row.start_event = ev.id
    _recount(ctx, row, before)


def on_release(ctx: IngestContext, ev: contract.Event, d: lev.BlockEnded) -> None:
    row = _block(ctx, d.block_id)
    if row is None:
        return
    before = LiftBlockDay.contribution(row)
    if row.started_at is None:  # the release came first (replays may reorder): place the start from the hold time
        row.started_at = ev.ts - timedelta(seconds=d.hold_s)
        row.day = shanghai_day(row.started_at)
        row.cls = d.cls
    row.ended_at = ev.ts
    row.hold_s = d.hold_s
    row.reason = d.reason
    row.released_by = d.by
    row.note = d.note
    row.staff_release = d.reason in STAFF_REASONS
    row.alarm = d.reason == "max_hold"
    row.best_score = max(row.best_score or 0.0, d.best_score)
    row.end_snapshot = ev.blobs[0] if ev.blobs else None
    row.end_event = ev.id
    _recount(ctx, row, before)


def on_fault(ctx: IngestContext, ev: contract.Event, d: lev.Fault) -> None:
    ctx.session.add(LiftFault(id=ev.id, device_id=ctx.device_id, fault=d.fault, detail=d.detail,
                              relay_released=d.relay_released, started_at=ev.ts))


def on_fault_cleared(ctx: IngestContext, ev: contract.Event, d: lev.FaultCleared) -> None:
    row = ctx.session.execute(
        select(LiftFault).where(LiftFault.device_id == ctx.device_id, LiftFault.fault == d.fault,
                                LiftFault.cleared_at.is_(None), LiftFault.started_at <= ev.ts)
        .order_by(LiftFault.started_at.desc()).limit(1)).scalar_one_or_none()
    if row is not None:
        row.cleared_at = ev.ts
        row.duration_s = d.duration_s


def on_suppress(ctx: IngestContext, ev: contract.Event, d: lev.Suppressed) -> None:
    ctx.session.add(LiftPause(id=ev.id, device_id=ctx.device_id, at=ev.ts, until=d.until, by=d.by, origin=d.origin,
                              reason=d.reason, released_block=d.released_block))


def on_resume(ctx: IngestContext, ev: contract.Event, d: lev.Resumed) -> None:
    row = ctx.session.execute(
        select(LiftPause).where(LiftPause.device_id == ctx.device_id, LiftPause.ended_at.is_(None),
                                LiftPause.at <= ev.ts).order_by(LiftPause.at.desc()).limit(1)).scalar_one_or_none()
    if row is not None:
        row.ended_at = ev.ts
        row.ended_why = d.why


def register(registry: HandlerRegistry) -> None:
    registry.on_event(Kind.lift_guard, on_block, types=lev.BlockStarted)
    registry.on_event(Kind.lift_guard, on_release, types=lev.BlockEnded)
    registry.on_event(Kind.lift_guard, on_fault, types=lev.Fault)
    registry.on_event(Kind.lift_guard, on_fault_cleared, types=lev.FaultCleared)
    registry.on_event(Kind.lift_guard, on_suppress, types=lev.Suppressed)
    registry.on_event(Kind.lift_guard, on_resume, types=lev.Resumed)
