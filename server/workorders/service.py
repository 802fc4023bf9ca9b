"""Work orders: open one per device and fault (repeats are counted on it), take steps, mark SLA breaches.

Everything here works on a caller's ``Session`` so that ingest handlers (inside the batch transaction), the API and
the periodic checker share one code path. Deadlines are columns (``respond_by``, ``fix_by``), so timers survive
restarts; ``overdue()`` compares them with the clock, and the checker writes the 督办 marks and notifications.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from linli import contract
from linli.contract import utcnow
from server.audit import audit
from server.auth import User
from server.db.engine import Database
from server.db.models import Device
from server.db.types import json_safe
from server.ingest.registry import HandlerRegistry, IngestContext
from server.settings import WorkOrderSettings
from server.users.models import UserAccount
from server.worker import LoopWorker
from server.workorders.flow import OPEN_STATES, SEVERITY_RANK, STEPS, allowed_steps
from server.workorders.models import WorkOrder, WorkOrderLog

log = logging.getLogger(__name__)
SYSTEM = "system"
OFFLINE_FAULT = "device.offline"
FAULT_MAX = 96


class WorkOrderError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Sla:
    respond: timedelta
    fix: timedelta

    @classmethod
    def of(cls, cfg: WorkOrderSettings) -> Sla:
        return cls(timedelta(minutes=cfg.respond_min), timedelta(hours=cfg.fix_h))


def fault_of(type_: str, data: Any) -> str:
    """The fault an event reports: ``data.fault`` when the device names one, else the event type."""
    f = data.get("fault") if isinstance(data, dict) else None
    key = f.strip() if isinstance(f, str) and f.strip() else type_
    return key[:FAULT_MAX]


def fault_key(ev: contract.Event) -> str:
    return fault_of(ev.type, ev.data)


def add_log(s: Session, wo: WorkOrder, who: str, action: str, at: datetime | None = None, **detail: Any) -> None:
    s.add(WorkOrderLog(order_id=wo.id, at=at or utcnow(), who=who[:64], action=action, state=wo.state,
                       detail=json_safe(detail)))


def open_or_repeat(s: Session, device_id: int, site: str, fault: str, severity: str, sla: Sla, at: datetime,
                   by: str = SYSTEM, event_id: str | None = None, source: str = "event",
                   note: str | None = None) -> tuple[WorkOrder, bool]:
    """The open order for this device and fault with one more occurrence, or a new one. Returns (order, new)."""
    fault = fault[:FAULT_MAX]
    key = f"{device_id}:{fault}"
    wo = s.execute(select(WorkOrder).where(WorkOrder.open_key == key)).scalar_one_or_none()
    if wo is not None:
        wo.occurrences += 1
        wo.last_seen_at = max(wo.last_seen_at, at)
        wo.last_event_id = event_id or wo.last_event_id
        if SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(wo.severity, 0):
            wo.severity = severity
            add_log(s, wo, by, "severity", severity=severity, event_id=event_id)
        return wo, False
    now = utcnow()
    wo = WorkOrder(device_id=device_id, site=site, fault=fault, open_key=key, severity=severity, state="received",
                   source=source, title=fault, first_event_id=event_id, last_event_id=event_id, occurrences=1,
                   created_at=now, created_by=by, last_seen_at=at, respond_by=now + sla.respond,
                   fix_by=now + sla.fix)
    s.add(wo)
    s.flush()
    add_log(s, wo, by, "opened", severity=severity, source=source, event_id=event_id, note=note)
    audit(s, by, "workorder.open", f"workorder/{wo.id}", "ok", device_id=device_id, fault=fault,
          severity=severity, source=source, event_id=event_id, reason=note)
    return wo, True


def overdue(wo: WorkOrder, now: datetime | None = None) -> list[str]:
    """Which SLA deadlines this order has missed and not yet met: ``respond`` and/or ``fix``."""
    if wo.state == "closed":
        return []
    now = now or utcnow()
    out = []
    if wo.dispatched_at is None and now > wo.respond_by:
        out.append("respond")
    if wo.handled_at is None and now > wo.fix_by:
        out.append("fix")
    return out


def sla_met(wo: WorkOrder) -> dict[str, bool | None]:
    """For closed statistics: was each deadline met (None while still open and not yet due)."""
    def met(done: datetime | None, due: datetime) -> bool | None:
        if done is not None:
            return done <= due
        return False if utcnow() > due else None
    return {"respond": met(wo.dispatched_at, wo.respond_by), "fix": met(wo.handled_at, wo.fix_by)}


def _assignee_ok(s: Session, name: str, site: str) -> bool:
    row = s.execute(select(UserAccount).where(UserAccount.name == name)).scalar_one_or_none()
    return (row is not None and row.active and row.role in ("maintenance", "manager", "admin")
            and (row.sites is None or site in row.sites))


def take_step(s: Session, wo: WorkOrder, step_name: str, user: User, *, assignee: str | None = None,
              note: str | None = None, reason: str | None = None, photos: list[str] | None = None) -> WorkOrder:
    """Apply one life-cycle step (checked against ``flow.STEPS``), log it on the order and audit it."""
    step = STEPS.get(step_name)
    if step is None:
        raise WorkOrderError(422, f"unknown step {step_name!r}; steps: {', '.join(STEPS)}")
    if wo.state not in step.from_states:
        raise WorkOrderError(409, f"order {wo.id} is {wo.state}; {step_name} needs {' or '.join(step.from_states)}")
    if step_name not in allowed_steps(wo.state, user, wo.assignee):
        raise WorkOrderError(403, f"role {user.role} may not {step_name} this order")
    given = {"assignee": (assignee or "").strip(), "note": (note or "").strip(), "reason": (reason or "").strip()}
    missing = [f for f in step.needs if not given[f]]
    if missing:
        raise WorkOrderError(422, f"{step_name} needs: {', '.join(missing)}")
    now = utcnow()
    if step_name == "acknowledge":
        wo.assignee = user.name[:64]
        wo.dispatched_at = wo.dispatched_at or now
    elif step_name == "dispatch":
        if not _assignee_ok(s, given["assignee"], wo.site):
            raise WorkOrderError(422, f"{given['assignee']} is not an active user who sees site {wo.site}")
        wo.assignee = given["assignee"]
        wo.dispatched_at = wo.dispatched_at or now
    elif step_name == "handle":
        wo.note = given["note"]
        wo.handled_at = now
    elif step_name == "verify":
        wo.verified_at = now
    elif step_name == "reject":
        wo.handled_at = None
        wo.verified_at = None
    if step.to_state == "closed":
        wo.closed_at = now
        wo.open_key = None
    if step.to_state is not None:
        wo.state = step.to_state
    detail = {k: v for k, v in given.items() if v}
    if photos:
        detail["photos"] = photos
    add_log(s, wo, user.name, step_name, now, **detail)
    audit(s, user.name, f"workorder.{step_name}", f"workorder/{wo.id}", "ok", state=wo.state, **detail)
    return wo


# ------------------------------------------------------------------------------------------ ingest hook
def register(registry: HandlerRegistry, cfg: WorkOrderSettings) -> None:
    """Device faults (events whose audience is ``maintenance`` in the contract) of the configured severities open
    (or repeat) work orders, inside the ingest transaction (exactly once). Security and business events go to
    guards and managers as alerts (``server.alerts``), never to maintenance."""
    from server.alerts.service import audience

    sla = Sla.of(cfg)
    severities = frozenset(cfg.severities)

    def on_event(ctx: IngestContext, ev: contract.Event, data: object) -> None:
        if ev.severity not in severities or audience(ev, data) != "maintenance":
            return
        open_or_repeat(ctx.session, ctx.device_id, ctx.ref.site, fault_key(ev), ev.severity, sla, ev.ts,
                       event_id=ev.id)

    registry.on_any_event(on_event)


# ------------------------------------------------------------------------------------------ periodic check
@dataclass
class CheckResult:
    opened: list[int] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)
    recovered: list[int] = field(default_factory=list)
    overdue: list[tuple[int, str]] = field(default_factory=list)


def check(db: Database, cfg: WorkOrderSettings, now: datetime | None = None) -> CheckResult:
    """Open orders for devices offline longer than ``offline_after_min``, note recoveries, and mark SLA breaches
    (督办). Works from the database alone, so it picks up where it left off after a restart."""
    now = now or utcnow()
    sla = Sla.of(cfg)
    res = CheckResult()
    cutoff = now - timedelta(minutes=cfg.offline_after_min)
    with db.session() as s:
        offline = s.execute(select(Device).where(Device.state == "offline", Device.state_since <= cutoff)).scalars()
        for dev in offline:
            key = f"{dev.id}:{OFFLINE_FAULT}"
            wo = s.execute(select(WorkOrder).where(WorkOrder.open_key == key)).scalar_one_or_none()
            since = dev.state_since or now
            if wo is not None and wo.last_seen_at >= since:
                continue  # this offline spell is already on the order
            wo, new = open_or_repeat(s, dev.id, dev.site, OFFLINE_FAULT, "alarm", sla, since, source="offline")
            if new:
                res.opened.append(wo.id)
            else:
                wo.recovered_at = None
                add_log(s, wo, SYSTEM, "repeat", offline_since=since.isoformat())
                res.repeated.append(wo.id)
        back = s.execute(select(WorkOrder, Device).join(Device, WorkOrder.device_id == Device.id)
                         .where(WorkOrder.fault == OFFLINE_FAULT, WorkOrder.state.in_(OPEN_STATES),
                                WorkOrder.recovered_at.is_(None), Device.state == "online")).all()
        for wo, dev in back:
            wo.recovered_at = now
            add_log(s, wo, SYSTEM, "recovered", online_since=dev.state_since.isoformat() if dev.state_since else None)
            res.recovered.append(wo.id)
        for deadline, col, done in (("respond", WorkOrder.respond_by, WorkOrder.dispatched_at),
                                    ("fix", WorkOrder.fix_by, WorkOrder.handled_at)):
            action = f"overdue_{deadline}"
            logged = exists().where(WorkOrderLog.order_id == WorkOrder.id, WorkOrderLog.action == action)
            late = s.scalars(select(WorkOrder).where(WorkOrder.state.in_(OPEN_STATES), col < now, done.is_(None),
                                                     ~logged))
            for wo in late:
                wo.escalated_at = wo.escalated_at or now
                due = getattr(wo, col.key).isoformat()
                add_log(s, wo, SYSTEM, action, due=due)
                audit(s, SYSTEM, "workorder.overdue", f"workorder/{wo.id}", "ok", deadline=deadline, due=due)
                res.overdue.append((wo.id, deadline))
    return res


class Checker:
    """Runs ``check`` (and session purge) every ``check_interval_s`` in a :class:`~server.worker.LoopWorker`;
    errors are logged, never fatal."""

    def __init__(self, db: Database, cfg: WorkOrderSettings, extra: list[Any] | None = None) -> None:
        self.db = db
        self.cfg = cfg
        self.extra = extra or []
        self.loop = LoopWorker("linli-workorders", self.run_once, lambda: self.cfg.check_interval_s, join_s=10)

    @property
    def runs(self) -> int:
        return self.loop.runs

    def run_once(self) -> CheckResult:
        res = check(self.db, self.cfg)
        for fn in self.extra:
            fn()
        if res.opened or res.overdue or res.recovered:
            log.info("work orders: opened %s, overdue %s, recovered %s", res.opened, res.overdue, res.recovered)
        return res

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()


def visible_orders(stmt: Any, user: User) -> Any:
    """Limit a query on ``WorkOrder`` to the user's sites."""
    if user.sites is None:
        return stmt
    return stmt.where(WorkOrder.site.in_(sorted(user.sites)))


def overdue_clause(now: datetime) -> Any:
    return and_(WorkOrder.state.in_(OPEN_STATES),
                or_(and_(WorkOrder.dispatched_at.is_(None), WorkOrder.respond_by < now),
                    and_(WorkOrder.handled_at.is_(None), WorkOrder.fix_by < now)))
