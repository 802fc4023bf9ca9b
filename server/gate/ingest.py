"""The gate's ingest handlers: passages, parking sessions, payments, door events and the gates' list versions.

They run inside the ingest batch's transaction, only for newly stored events (so each is written once). Each gets
the event's data as the model ``linli.contract.gate`` declares for its type (validated by ingest: data that does not
fit is rejected and counted before it gets here).
"""

from __future__ import annotations

import logging
from datetime import datetime

from linli import contract
from linli.contract import Kind
from linli.contract.gate import DOOR_EVENTS, DoorData, ListsAppliedData, PassageData, PaymentData
from server.db import rollups
from server.ingest.registry import HandlerRegistry, IngestContext

from .models import GateDeviceSync, GateDoorEvent, GatePassage, GatePassageDay, GatePayment, GateSession

log = logging.getLogger(__name__)
def _session(ctx: IngestContext, sid: str) -> GateSession | None:
    return ctx.session.get(GateSession, sid)


def on_passage(ctx: IngestContext, ev: contract.Event, p: PassageData) -> None:
    ctx.session.add(GatePassage(
        event_id=ev.id, device_id=ctx.device_id, site=ctx.ref.site, lane=p.lane, direction=p.direction, at=p.at,
        plate=p.plate, colour=p.colour, source=p.source, decision=p.decision, reason=p.reason, category=p.category,
        match=p.match, opened=p.opened, session_id=p.session_id, fee_cents=p.fee_cents,
        offline_replay=p.offline_replay, by=p.by, note=p.note, blob=ev.blobs[0] if ev.blobs else None,
        data=ev.data))
    paid = GatePassageDay.fee_counted(p.direction, p.opened, p.fee_cents)
    rollups.add(ctx.session, GatePassageDay, [{
        "day": rollups.day_of(p.at), "site": ctx.ref.site, "device_id": ctx.device_id, "direction": p.direction,
        "decision": p.decision, "n": 1, "fee_n": int(paid), "fee_cents": (p.fee_cents or 0) if paid else 0}])
    if p.session_id is None or not p.plate:
        return
    row = _session(ctx, p.session_id)
    if row is None:
        row = GateSession(id=p.session_id, device_id=ctx.device_id, site=ctx.ref.site, plate=p.plate,
                          category=p.category if p.category in ("resident", "visitor", "temporary") else "temporary",
                          entry_at=p.entry_at, paid_cents=0, state="open")
        ctx.session.add(row)
    if p.direction == "exit" and p.opened:
        row.exit_at, row.state = p.at, "closed"
        row.fee_cents = p.fee_cents
        if p.paid_cents is not None:
            row.paid_cents = max(row.paid_cents or 0, p.paid_cents)
    elif p.direction == "entry" and row.entry_at is None:
        row.entry_at = p.at


def on_payment(ctx: IngestContext, ev: contract.Event, p: PaymentData) -> None:
    pid = p.payment_id or f"dev-{ev.id}"  # cash at the booth has no payment id of its own
    if ctx.session.get(GatePayment, pid) is not None:
        return  # an online payment the server recorded (and counted) when its callback came
    ctx.session.add(GatePayment(payment_id=pid, site=ctx.ref.site, session_id=p.session_id, plate=p.plate,
                                amount_cents=p.amount_cents, method=p.method, at=p.at, received_at=ctx.received_at,
                                state="recorded", device_id=ctx.device_id))
    s = _session(ctx, p.session_id)
    if s is not None:
        s.paid_cents = (s.paid_cents or 0) + p.amount_cents


def on_door(ctx: IngestContext, ev: contract.Event, d: DoorData) -> None:
    ctx.session.add(GateDoorEvent(event_id=ev.id, device_id=ctx.device_id, site=ctx.ref.site, door=d.door,
                                  type=ev.type, at=d.at, method=d.method, credential=d.credential, granted=d.granted,
                                  reason=d.reason, label=d.label))


def _report_version(ctx: IngestContext, version: int, at: datetime) -> None:
    row = ctx.session.get(GateDeviceSync, ctx.device_id)
    if row is None:
        row = GateDeviceSync(device_id=ctx.device_id)
        ctx.session.add(row)
    if row.reported_at is None or at >= row.reported_at:
        row.reported_version, row.reported_at = version, at


def on_lists_applied(ctx: IngestContext, ev: contract.Event, d: ListsAppliedData) -> None:
    _report_version(ctx, d.version, ev.ts)


def on_cmd_result(ctx: IngestContext, res: contract.CommandResult) -> None:
    if res.name == "lists_sync" and res.ok and res.result and isinstance(res.result.get("version"), int):
        _report_version(ctx, res.result["version"], res.ts)


def on_telemetry(ctx: IngestContext, tm: contract.Telemetry) -> None:
    v = tm.gauges.get("lists_version")
    if isinstance(v, int) and not isinstance(v, bool):
        _report_version(ctx, v, tm.ts)


def register(registry: HandlerRegistry) -> None:
    registry.on_event(Kind.gate, on_passage, types=PassageData)
    registry.on_event(Kind.gate, on_payment, types=PaymentData)
    registry.on_event(Kind.gate, on_door, types=DOOR_EVENTS)
    registry.on_event(Kind.gate, on_lists_applied, types=ListsAppliedData)
    registry.on_cmd_result(Kind.gate, on_cmd_result)
    registry.on_telemetry(Kind.gate, on_telemetry)

