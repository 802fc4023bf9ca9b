"""Routing events to people: ``guard`` and ``manager`` events raise alerts here; ``maintenance`` events open
work orders (``server.workorders.service``); ``record`` events are only stored. The audience comes from the
contract (``EventData.event_audience``), so every kind says it once, next to the event's definition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli import contract
from linli.contract import EventData, utcnow
from server.alerts.models import OPEN_STATES, Alert
from server.audit import audit
from server.auth import User
from server.db.models import Device
from server.db.types import json_safe
from server.ingest.registry import HandlerRegistry, IngestContext

#: Fields of an event's data that people need to see on an alert (plate, where, what).
SHOWN = ("plate", "lane", "door", "direction", "port", "reason", "seconds", "minutes", "by", "label", "fault")


class AlertError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def audience(ev: contract.Event, data: Any) -> contract.Audience:
    """Who is told of this event. An event of a type outside the contract (``data`` None) that a device calls an
    alarm is treated as a device fault, so nothing a device raises goes unseen."""
    if isinstance(data, EventData):
        return data.event_audience()
    return "maintenance" if ev.severity == "alarm" else "record"


def _detail(ev: contract.Event) -> dict[str, Any]:
    data = ev.data if isinstance(ev.data, dict) else {}
    out = {k: data[k] for k in SHOWN if data.get(k) not in (None, "")}
    if ev.blobs:
        out["snapshot"] = ev.blobs[0]
    return json_safe(out)


def raise_alert(s: Session, device_id: int, site: str, who: contract.Audience, type_: str, severity: str,
                at: datetime, event_id: str | None, detail: dict[str, Any]) -> tuple[Alert, bool]:
    """The open alert of this device and event type with one more occurrence, or a new one. Returns (alert, new).
    A repeat of an acknowledged alert makes it active again (something new happened)."""
    key = f"{device_id}:{type_}"[:160]
    al = s.execute(select(Alert).where(Alert.open_key == key)).scalar_one_or_none()
    if al is not None:
        al.occurrences += 1
        al.last_seen_at = max(al.last_seen_at, at)
        al.last_event_id = event_id or al.last_event_id
        al.detail = detail or al.detail
        al.state = "active"
        return al, False
    al = Alert(device_id=device_id, site=site, audience=who, type=type_[:64], open_key=key, severity=severity,
               state="active", first_event_id=event_id, last_event_id=event_id, occurrences=1,
               created_at=utcnow(), last_seen_at=at, detail=detail)
    s.add(al)
    s.flush()
    return al, True


def register(registry: HandlerRegistry) -> None:
    """Guard and manager events of every kind raise (or repeat) alerts, inside the ingest transaction."""

    def on_event(ctx: IngestContext, ev: contract.Event, data: object) -> None:
        who = audience(ev, data)
        if who not in ("guard", "manager"):
            return
        raise_alert(ctx.session, ctx.device_id, ctx.ref.site, who, ev.type, ev.severity, ev.ts, ev.id, _detail(ev))

    registry.on_any_event(on_event)


def load_alert(s: Session, user: User, alert_id: int) -> tuple[Alert, Device]:
    row = s.execute(select(Alert, Device).join(Device, Alert.device_id == Device.id)
                    .where(Alert.id == alert_id)).first()
    if row is None or not user.sees(row[0].site):
        raise AlertError(404, f"no alert {alert_id}")
    return row[0], row[1]


def acknowledge(s: Session, al: Alert, user: User) -> Alert:
    """Someone has seen it and is on it (active → acknowledged)."""
    if al.state != "active":
        raise AlertError(409, f"alert {al.id} is {al.state}; only an active alert can be acknowledged")
    al.state = "acknowledged"
    al.acknowledged_at = utcnow()
    al.acknowledged_by = user.name[:64]
    audit(s, user.name, "alert.acknowledge", f"alert/{al.id}", "ok", site=al.site, type=al.type)
    return al


def clear(s: Session, al: Alert, user: User) -> Alert:
    """It is over (active or acknowledged → cleared); the next occurrence raises a new alert."""
    if al.state not in OPEN_STATES:
        raise AlertError(409, f"alert {al.id} is already cleared")
    now = utcnow()
    if al.acknowledged_at is None:
        al.acknowledged_at, al.acknowledged_by = now, user.name[:64]
    al.state = "cleared"
    al.cleared_at = now
    al.cleared_by = user.name[:64]
    al.open_key = None
    audit(s, user.name, "alert.clear", f"alert/{al.id}", "ok", site=al.site, type=al.type)
    return al


def open_alerts(s: Session, user: User, *, site: str | None = None, device_ids: list[int] | None = None,
                audiences: tuple[str, ...] = ("guard", "manager"), limit: int = 200) -> list[tuple[Alert, Device]]:
    """Alerts not cleared yet, newest first, of the sites the user sees."""
    stmt = (select(Alert, Device).join(Device, Alert.device_id == Device.id)
            .where(Alert.state.in_(OPEN_STATES), Alert.audience.in_(audiences)))
    if user.sites is not None:
        stmt = stmt.where(Alert.site.in_(sorted(user.sites)))
    if site is not None:
        stmt = stmt.where(Alert.site == site)
    if device_ids is not None:
        stmt = stmt.where(Alert.device_id.in_(device_ids))
    return [(a, d) for a, d in s.execute(stmt.order_by(Alert.last_seen_at.desc(), Alert.id.desc()).limit(limit))]
