"""Turning MQTT messages into rows: ``parse`` (no database) and ``store_batch`` (one transaction).

Idempotent throughout, because the broker redelivers whatever was not acknowledged: events by id, telemetry by
(device, ts), blobs by sha256, command results and config reports by overwriting with the same values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, case, delete, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from linli import contract
from linli.contract import Channel, ContractError, DeviceRef
from server.db import rollups
from server.db.engine import write_lock
from server.db.models import Blob, Command, Device, DeviceConfig, Event, EventDay, ReportingDay, Telemetry
from server.db.types import UtcDateTime, json_safe
from server.ingest.registry import HandlerRegistry, IngestContext
from server.storage import SnapshotStore

DEVICE_CHANNELS = frozenset({Channel.status, Channel.telemetry, Channel.event, Channel.blob, Channel.cmd_result,
                             Channel.config_reported})

DEVICES = cast(Table, Device.__table__)
EVENTS = cast(Table, Event.__table__)
BLOBS = cast(Table, Blob.__table__)
TELEMETRY = cast(Table, Telemetry.__table__)
COMMANDS = cast(Table, Command.__table__)
DEVICE_CONFIG = cast(Table, DeviceConfig.__table__)


@dataclass(slots=True)
class Incoming:
    """One MQTT message as received (before parsing)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    mid: int = 0
    generation: int = 0
    arrived: datetime | None = None
    arrived_mono: float = 0.0


@dataclass(slots=True)
class Parsed:
    msg: Incoming
    ref: DeviceRef
    channel: Channel
    payload: contract.Payload | None = None  # None for blobs
    sha256: str | None = None               # blobs
    data: contract.EventData | None = None  # events: Event.data as the contract's model of its type

    @property
    def seen(self) -> bool:
        """Does this message show the device itself is alive? Retained copies (sent to us on subscribe) and the
        offline will (published by the broker) do not."""
        if self.msg.retain:
            return False
        return not (isinstance(self.payload, contract.Status) and self.payload.state == "offline")


class Rejected(Exception):
    """A message ingest will not store: why (one of ``REJECT_REASONS``), and the device kind and event type when
    they could be read (for the counts by kind and type)."""

    def __init__(self, reason: str, detail: str, kind: str = "", type: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.kind = kind
        self.type = type


Outcome = Literal["stored", "duplicate"] | Rejected


# ------------------------------------------------------------------------------------------------ parse
def parse(msg: Incoming) -> Parsed:
    """Check topic and payload against the contract. Raises ``Rejected`` with a reason from REJECT_REASONS."""
    try:
        pt = contract.parse_topic(msg.topic)
    except ContractError as exc:
        raise Rejected("unknown_topic", str(exc)) from None
    try:
        return _parse(msg, pt)
    except Rejected as rej:
        rej.kind = pt.ref.kind.value
        if not rej.type and pt.channel is Channel.event:
            rej.type = _event_type_of(msg.payload)
        raise


def _event_type_of(payload: bytes) -> str:
    """The event type named in a payload, if it can be read cheaply and safely (else empty)."""
    if len(payload) > contract.MAX_JSON_BYTES:
        return ""
    m = _TYPE_RE.search(payload)
    if m is None:
        return ""
    t = m.group(1).decode("ascii")
    return t if contract.EVENT_TYPE_RE.fullmatch(t) and len(t) <= 64 else ""


_TYPE_RE = re.compile(rb'"type"\s*:\s*"([a-z][a-z0-9_.]{0,63})"')


def _parse(msg: Incoming, pt: contract.ParsedTopic) -> Parsed:
    if pt.channel not in DEVICE_CHANNELS:
        raise Rejected("unknown_topic", f"channel {pt.channel.value} is not a device→server channel")
    data = msg.payload
    if pt.channel is Channel.blob:
        assert pt.arg is not None
        if len(data) > contract.MAX_BLOB_BYTES:
            raise Rejected("oversized", f"blob of {len(data)} bytes is over {contract.MAX_BLOB_BYTES}")
        if not data:
            raise Rejected("blob_empty", "blob is empty")
        try:
            contract.check_blob(pt.arg, data)
        except ContractError as exc:
            raise Rejected("blob_hash", str(exc)) from None
        return Parsed(msg, pt.ref, pt.channel, None, pt.arg)
    try:
        payload = contract.decode(pt.channel, data)  # size, nesting, numbers, UTF-8, then the channel's model
    except contract.PayloadError as exc:
        raise Rejected(exc.reason, str(exc)) from None
    except ContractError as exc:
        raise Rejected("schema", str(exc)) from None
    if isinstance(payload, contract.Status) and payload.kind != pt.ref.kind:
        raise Rejected("kind_mismatch", f"status says kind {payload.kind.value}, topic says {pt.ref.kind.value}")
    typed = None
    if isinstance(payload, contract.Event) and contract.event_model(pt.ref.kind, payload.type) is not None:
        try:
            typed = contract.parse_event_data(pt.ref.kind, payload.type, payload.data)
        except ContractError as exc:
            raise Rejected("schema", str(exc)) from None
    return Parsed(msg, pt.ref, pt.channel, payload, data=typed)


# ------------------------------------------------------------------------------------------------ store
def insert_ignore(session: Session, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's database."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"database {name!r} is not supported (use SQLite or PostgreSQL)")


class DeviceCache:
    """site/kind/device → devices.id. Rows are never re-keyed, so the cache is only cleared after errors."""

    def __init__(self) -> None:
        self.ids: dict[DeviceRef, int] = {}

    def clear(self) -> None:
        self.ids.clear()


def resolve_devices(session: Session, refs: Iterable[DeviceRef], now: datetime, cache: DeviceCache,
                    new: dict[DeviceRef, int]) -> dict[DeviceRef, int]:
    """ids of these devices, registering unknown ones. ``new`` receives ids to add to the cache after commit."""
    out: dict[DeviceRef, int] = {}
    missing = []
    for ref in set(refs):
        if ref in cache.ids:
            out[ref] = cache.ids[ref]
        else:
            missing.append(ref)
    if missing:
        session.execute(insert_ignore(session, DEVICES),
                        [{"site": r.site, "kind": r.kind.value, "device": r.device, "state": "unknown",
                          "first_seen": now} for r in missing])
        sites = {r.site for r in missing}
        rows = session.execute(select(DEVICES.c.id, DEVICES.c.site, DEVICES.c.kind, DEVICES.c.device)
                               .where(DEVICES.c.site.in_(sites))).all()
        by_key = {(s, k, d): i for i, s, k, d in rows}
        for ref in missing:
            out[ref] = new[ref] = by_key[(ref.site, ref.kind.value, ref.device)]
    return out


@dataclass
class StoreEnv:
    registry: HandlerRegistry
    snapshots: SnapshotStore
    devices: DeviceCache


class HandlerFailed(Exception):
    """A kind's handler raised; the message it was handling is rejected as ``handler_error``."""

    def __init__(self, fn: Any, exc: BaseException) -> None:
        name = getattr(fn, "__qualname__", repr(fn))
        text = str(exc).strip().splitlines()
        super().__init__(f"{getattr(fn, '__module__', '')}.{name}: {type(exc).__name__}: {text[0] if text else ''}"
                         [:300])


#: PostgreSQL: deadlock detected, serialization failure, lock not available
_RACE_STATES = frozenset({"40P01", "40001", "55P03"})


def lost_a_race(exc: BaseException) -> bool:
    """This transaction lost to another one, or the connection broke — nothing the message did, also when a
    handler's query raised it: a deadlock with another ingest worker (e.g. over a roll-up row), a serialization
    failure, a lock not available, SQLite's "database is locked"."""
    if isinstance(exc, HandlerFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in _RACE_STATES:
        return True
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying the same batch for: the database is away, locked or the connection broke, or the
    transaction lost a race (:func:`lost_a_race`)."""
    if lost_a_race(exc):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


def _run(handlers: list[Any], *args: Any) -> None:
    for fn in handlers:
        try:
            fn(*args)
        except Exception as exc:
            raise HandlerFailed(fn, exc) from exc


def _handled(handlers: list[Any], *args: Any) -> Outcome:
    _run(handlers, *args)
    return "stored"


def _isolated(session: Session, write: Callable[[], Outcome], undo: Callable[[], Any] | None = None) -> Outcome:
    """Run ``write`` (a message's own rows and its handlers) in a SAVEPOINT: if it fails, only its work is rolled
    back (and ``undo`` removes its row of a bulk insert) and the message is rejected; the batch goes on."""
    try:
        with session.begin_nested():
            out = write()
            session.flush()
        return out
    except Exception as exc:
        if lost_a_race(exc):
            # not this message's fault (a deadlock with another ingest worker over a roll-up row, the connection
            # lost): the whole batch is retried rather than the message rejected
            raise
        if undo is not None:
            undo()
        if isinstance(exc, HandlerFailed):
            return Rejected("handler_error", str(exc))
        return Rejected("store_error", f"{type(exc).__name__}: {str(exc).strip()[:250]}")


def store_batch(session: Session, items: list[Parsed], env: StoreEnv, now: datetime,
                new_devices: dict[DeviceRef, int], isolate: bool = False) -> list[Outcome]:
    """Write parsed messages in one transaction (the caller commits). Returns one outcome per item.

    With ``isolate`` each message's writes and handlers run in a SAVEPOINT of their own, so a message whose handler
    (or row) fails is rejected alone and the others are stored in the same transaction. Ingest first tries without
    (one transaction, fastest) and, only if that fails, again with."""
    write_lock(session)  # savepoints read then write: on SQLite hold the write lock from the start
    ids = resolve_devices(session, (it.ref for it in items), now, env.devices, new_devices)
    outcomes: list[Outcome | None] = [None] * len(items)
    event_idx: list[int] = []
    telemetry_idx: list[int] = []
    last_seen: dict[int, datetime] = {}
    for i, it in enumerate(items):
        dev = ids[it.ref]
        at = it.msg.arrived or now
        if it.seen:
            last_seen[dev] = max(last_seen.get(dev, at), at)
        ctx = IngestContext(session, it.ref, dev, at)
        if it.channel is Channel.event:
            event_idx.append(i)
        elif it.channel is Channel.telemetry:
            telemetry_idx.append(i)
        else:
            write = _writer(ctx, it, env)
            outcomes[i] = _isolated(session, write) if isolate else write()
    if event_idx:
        _events(session, items, event_idx, ids, outcomes, env, now, isolate)
    if telemetry_idx:
        _telemetry(session, items, telemetry_idx, ids, outcomes, env, now, isolate)
    if last_seen:
        b_at: Any = bindparam("b_at", type_=UtcDateTime())
        session.execute(
            update(DEVICES)
            .where(DEVICES.c.id == bindparam("b_id"))
            .where(or_(DEVICES.c.last_seen.is_(None), DEVICES.c.last_seen < b_at))
            .values(last_seen=b_at),
            [{"b_id": d, "b_at": t} for d, t in last_seen.items()],
        )
    assert all(o is not None for o in outcomes)
    return outcomes  # type: ignore[return-value]


def _writer(ctx: IngestContext, it: Parsed, env: StoreEnv) -> Callable[[], Outcome]:
    """What stores one status, blob, command result or config report."""
    p = it.payload
    if isinstance(p, contract.Status):
        return lambda: _status(ctx, p, env)
    if it.channel is Channel.blob and it.sha256 is not None:
        sha = it.sha256
        return lambda: _blob(ctx, sha, it.msg.payload, env)
    if isinstance(p, contract.CommandResult):
        return lambda: _cmd_result(ctx, p, env)
    if isinstance(p, contract.ConfigReported):
        return lambda: _config_reported(ctx, p, env)
    return lambda: Rejected("unknown_topic", f"unhandled channel {it.channel.value}")  # parse() lets none through


def _status(ctx: IngestContext, st: contract.Status, env: StoreEnv) -> Outcome:
    values: dict[str, Any] = {
        "state": st.state,
        "state_since": case((or_(DEVICES.c.state != st.state, DEVICES.c.state_since.is_(None)), ctx.received_at),
                            else_=DEVICES.c.state_since),
        "status_at": st.ts,
    }
    if st.state != "offline":  # the will says only "offline"; keep what the device last told us about itself
        values.update(software=st.software, model_version=st.model_version, config_version=st.config_version,
                      hostname=st.hostname, boot_time=st.boot_time)
    stmt = update(DEVICES).where(DEVICES.c.id == ctx.device_id)
    if st.state == "offline":
        # The will of a connection that is gone. With several ingest workers it may be stored after a message the
        # device sent on a later connection (another worker was quicker): then it is stale, and the device stays
        # as that later message left it. ``received_at`` orders them (the broker's store time on NATS).
        stmt = stmt.where(or_(DEVICES.c.last_seen.is_(None), DEVICES.c.last_seen <= ctx.received_at))
    ctx.session.execute(stmt.values(**values))
    _run(env.registry.status.find(ctx.ref.kind), ctx, st)
    return "stored"


def _blob(ctx: IngestContext, sha: str, data: bytes, env: StoreEnv) -> Outcome:
    s = ctx.session
    if s.execute(select(BLOBS.c.sha256).where(BLOBS.c.sha256 == sha)).first() is not None:
        return "duplicate"  # also when purged: an old snapshot replayed after its retention is not revived
    env.snapshots.write(sha, data)
    s.execute(insert_ignore(s, BLOBS).values(sha256=sha, device_id=ctx.device_id, size=len(data),
                                             content_type="image/jpeg", received_at=ctx.received_at))
    return "stored"


def _cmd_result(ctx: IngestContext, res: contract.CommandResult, env: StoreEnv) -> Outcome:
    s = ctx.session
    row = s.execute(select(COMMANDS.c.device_id, COMMANDS.c.state, COMMANDS.c.finished_at)
                    .where(COMMANDS.c.id == res.id)).first()
    if row is None:
        return Rejected("unknown_command", f"no command {res.id} ({res.name})")
    if row.device_id != ctx.device_id:
        return Rejected("wrong_device", f"command {res.id} was not sent to {ctx.ref.key}")
    if row.state in ("ok", "error") and row.finished_at is not None:
        return "duplicate"
    s.execute(update(COMMANDS).where(COMMANDS.c.id == res.id).values(
        state="ok" if res.ok else "error", result=json_safe(res.result), error=res.error,
        finished_at=res.ts))
    _run(env.registry.cmd_results.find(ctx.ref.kind, res.name), ctx, res)
    return "stored"


def _config_reported(ctx: IngestContext, rep: contract.ConfigReported, env: StoreEnv) -> Outcome:
    s = ctx.session
    s.execute(insert_ignore(s, DEVICE_CONFIG).values(device_id=ctx.device_id, desired_version=0))
    s.execute(update(DEVICE_CONFIG).where(DEVICE_CONFIG.c.device_id == ctx.device_id).values(
        reported_version=rep.version, reported_applied_version=rep.applied_version, reported_ok=rep.ok,
        reported_error=rep.error, reported_at=rep.ts))
    _run(env.registry.config_reported.find(ctx.ref.kind), ctx, rep)
    return "stored"


def _events(session: Session, items: list[Parsed], idx: list[int], ids: dict[DeviceRef, int],
            outcomes: list[Outcome | None], env: StoreEnv, now: datetime, isolate: bool) -> None:
    rows: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for i in idx:
        ev = items[i].payload
        assert isinstance(ev, contract.Event)
        if ev.id in first:
            outcomes[i] = "duplicate"
            continue
        first[ev.id] = i
        rows.append({"id": ev.id, "device_id": ids[items[i].ref], "type": ev.type, "severity": ev.severity,
                     "ts": ev.ts, "received_at": items[i].msg.arrived or now, "data": json_safe(ev.data),
                     "blobs": list(ev.blobs)})
    inserted = {r[0] for r in session.execute(insert_ignore(session, EVENTS).returning(EVENTS.c.id), rows)}
    for ev_id, i in first.items():
        outcomes[i] = "stored" if ev_id in inserted else "duplicate"
    for ev_id, i in first.items():
        if ev_id not in inserted:
            continue
        it = items[i]
        ev = it.payload
        assert isinstance(ev, contract.Event)
        handlers = env.registry.events.find(it.ref.kind, ev.type)
        if not handlers:
            continue
        ctx = IngestContext(session, it.ref, ids[it.ref], it.msg.arrived or now)
        if not isolate:
            _run(handlers, ctx, ev, it.data)
            continue

        undo = partial(session.execute, delete(EVENTS).where(EVENTS.c.id == ev_id))
        outcomes[i] = _isolated(session, partial(_handled, handlers, ctx, ev, it.data), undo)
    # the daily roll-up counts each event this batch stored (not a duplicate, not undone by a failed handler)
    day_rows = []
    for i in first.values():
        if outcomes[i] == "stored":
            ev = items[i].payload
            assert isinstance(ev, contract.Event)
            day_rows.append({"day": rollups.day_of(ev.ts), "device_id": ids[items[i].ref], "type": ev.type,
                             "severity": ev.severity, "n": 1})
    rollups.add(session, EventDay, day_rows)


def _telemetry(session: Session, items: list[Parsed], idx: list[int], ids: dict[DeviceRef, int],
               outcomes: list[Outcome | None], env: StoreEnv, now: datetime, isolate: bool) -> None:
    rows: list[dict[str, Any]] = []
    keyed: dict[tuple[int, datetime], int] = {}
    for i in idx:
        tm = items[i].payload
        assert isinstance(tm, contract.Telemetry)
        key = (ids[items[i].ref], tm.ts)
        if key in keyed:
            outcomes[i] = "duplicate"
            continue
        keyed[key] = i
        rows.append({"device_id": key[0], "ts": tm.ts, "received_at": items[i].msg.arrived or now,
                     "health": tm.health.model_dump(), "gauges": json_safe(dict(tm.gauges))})
    res = session.execute(insert_ignore(session, TELEMETRY).returning(TELEMETRY.c.device_id, TELEMETRY.c.ts),
                          rows)
    inserted = {(d, t) for d, t in res}
    latest: dict[int, int] = {}
    for key, i in keyed.items():
        new = key in inserted
        outcomes[i] = "stored" if new else "duplicate"
        if not new:
            continue
        it = items[i]
        tm = it.payload
        assert isinstance(tm, contract.Telemetry)
        handlers = env.registry.telemetry.find(it.ref.kind)
        if handlers:
            ctx = IngestContext(session, it.ref, key[0], it.msg.arrived or now)
            if isolate:
                undo = partial(session.execute, delete(TELEMETRY).where(TELEMETRY.c.device_id == key[0],
                                                                        TELEMETRY.c.ts == key[1]))
                outcomes[i] = _isolated(session, partial(_handled, handlers, ctx, tm), undo)
                if outcomes[i] != "stored":
                    continue
            else:
                _run(handlers, ctx, tm)
        cur = latest.get(key[0])
        if cur is None or items[cur].payload.ts < key[1]:  # type: ignore[union-attr]
            latest[key[0]] = i
    rollups.add(session, ReportingDay, ({"day": rollups.day_of(key[1]), "device_id": key[0]}
                                        for key, i in keyed.items() if outcomes[i] == "stored"))
    for dev, i in latest.items():
        tm = items[i].payload
        assert isinstance(tm, contract.Telemetry)
        session.execute(
            update(DEVICES)
            .where(DEVICES.c.id == dev)
            .where(or_(DEVICES.c.health_at.is_(None), DEVICES.c.health_at <= tm.ts))
            .values(health=tm.health.model_dump(), gauges=json_safe(dict(tm.gauges)), health_at=tm.ts))
