"""API request and response models (they make the OpenAPI document at /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from linli.contract import CMD_NAME_RE
from server.commands import effective_state
from server.db.models import AuditLog, Command, Device, DeviceConfig, Event, Telemetry


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DeviceOut(_Out):
    site: str
    kind: str
    device: str
    key: str = Field(description="site/kind/device")
    state: str = Field(description="online | offline | stopping | unknown")
    online: bool
    state_since: datetime | None
    first_seen: datetime
    last_seen: datetime | None
    status_at: datetime | None
    boot_time: datetime | None
    software: str | None
    model_version: str | None
    config_version: str | None
    hostname: str | None
    health: dict[str, Any] | None
    gauges: dict[str, Any] | None
    health_at: datetime | None

    @classmethod
    def of(cls, d: Device) -> DeviceOut:
        return cls.model_validate({**{c: getattr(d, c) for c in cls.model_fields if hasattr(d, c)},
                                   "online": d.state == "online"})


class SnapshotRef(BaseModel):
    sha256: str
    url: str


class EventOut(_Out):
    id: str
    site: str
    kind: str
    device: str
    type: str
    severity: str
    ts: datetime
    received_at: datetime
    data: dict[str, Any]
    blobs: list[SnapshotRef]

    @classmethod
    def of(cls, e: Event, d: Device, data: dict[str, Any] | None = None) -> EventOut:
        """``data``: the event's data when the caller read it itself (``e.data`` otherwise)."""
        return cls(id=e.id, site=d.site, kind=d.kind, device=d.device, type=e.type, severity=e.severity, ts=e.ts,
                   received_at=e.received_at, data=e.data if data is None else data,
                   blobs=[SnapshotRef(sha256=s, url=f"/api/v1/blobs/{s}") for s in e.blobs])


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next (older) page")


class TelemetryOut(_Out):
    ts: datetime
    received_at: datetime
    health: dict[str, Any]
    gauges: dict[str, Any]

    @classmethod
    def of(cls, t: Telemetry) -> TelemetryOut:
        return cls.model_validate(t)


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=CMD_NAME_RE.pattern, description="command name, e.g. pulse_relay")
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: float | None = Field(None, gt=0, description="seconds the device may still act on it")


class CommandOut(_Out):
    id: str
    site: str
    kind: str
    device: str
    name: str
    args: dict[str, Any]
    by: str
    created_at: datetime
    expires: datetime
    state: Literal["pending", "sent", "ok", "error", "expired"]
    sent_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    published: bool | None = Field(None, description="on creation: did the broker acknowledge it in time")

    @classmethod
    def of(cls, c: Command, d: Device, published: bool | None = None) -> CommandOut:
        return cls(id=c.id, site=d.site, kind=d.kind, device=d.device, name=c.name, args=c.args, by=c.by,
                   created_at=c.created_at, expires=c.expires, state=effective_state(c),  # type: ignore[arg-type]
                   sent_at=c.sent_at, finished_at=c.finished_at, result=c.result, error=c.error, published=published)


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overrides: dict[str, Any] = Field(description="config overrides; the device validates and applies them")


class DesiredConfig(BaseModel):
    version: int
    overrides: dict[str, Any] | None
    by: str | None
    at: datetime | None


class ReportedConfig(BaseModel):
    version: int | None
    applied_version: int | None
    ok: bool | None
    error: str | None
    at: datetime | None


class ConfigOut(BaseModel):
    desired: DesiredConfig
    reported: ReportedConfig
    in_sync: bool = Field(description="the device runs the desired version")
    published: bool | None = None

    @classmethod
    def of(cls, c: DeviceConfig | None, published: bool | None = None) -> ConfigOut:
        if c is None:
            return cls(desired=DesiredConfig(version=0, overrides=None, by=None, at=None),
                       reported=ReportedConfig(version=None, applied_version=None, ok=None, error=None, at=None),
                       in_sync=True, published=published)
        return cls(
            desired=DesiredConfig(version=c.desired_version, overrides=c.desired_overrides, by=c.desired_by,
                                  at=c.desired_at),
            reported=ReportedConfig(version=c.reported_version, applied_version=c.reported_applied_version,
                                    ok=c.reported_ok, error=c.reported_error, at=c.reported_at),
            in_sync=(c.desired_version == 0 or c.reported_applied_version == c.desired_version),
            published=published)


class AuditOut(_Out):
    id: int
    at: datetime
    who: str
    action: str
    target: str
    result: str
    site: str | None = None
    detail: dict[str, Any]

    @classmethod
    def of(cls, a: AuditLog) -> AuditOut:
        return cls.model_validate(a)


class RejectOut(BaseModel):
    at: datetime
    topic: str
    reason: str
    detail: str
    size: int
    kind: str = Field("", description="device kind named in the topic (- when unreadable)")
    type: str = Field("", description="event type (- when unreadable or not an event)")


class RejectCountOut(BaseModel):
    kind: str
    type: str
    reason: str
    count: int


class BatchSizeOut(BaseModel):
    last: int
    max: int
    mean: float


class LagOut(BaseModel):
    last: float
    max: float


class IngestStatsOut(BaseModel):
    enabled: bool
    connected: bool
    received: int
    stored: int
    duplicate: int
    rejected: dict[str, int] = Field(description="count per reason (reasons seen so far)")
    rejected_total: int
    rejected_by: list[RejectCountOut] = Field(description="count per device kind, event type and reason")
    batches: int
    batch_size: BatchSizeOut
    lag_s: LagOut = Field(description="arrival at the server → committed")
    queue_depth: int
    db_retries: int
    last_commit: datetime | None
    last_rejects: list[RejectOut]


class MeOut(BaseModel):
    name: str
    role: str
    sites: list[str] | None
    permissions: list[str]
