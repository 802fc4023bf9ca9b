"""Per-kind ingest handlers.

A device kind reacts to its own messages in ``server/<kind>/ingest.py``, which defines ``register(registry)``::

    # server/gate/ingest.py
    from linli.contract import Event, Kind
    from linli.contract.gate import PassageData
    from server.ingest.registry import HandlerRegistry, IngestContext

    def on_passage(ctx: IngestContext, event: Event, data: PassageData) -> None:
        ctx.session.add(Passage(device_id=ctx.device_id, plate=data.plate, ts=event.ts))

    def register(registry: HandlerRegistry) -> None:
        registry.on_event(Kind.gate, on_passage, types=PassageData)

Event handlers get the event's data already validated against the kind's contract (``linli.contract.<kind>``): the
instance of the payload model declared for its type (an event whose data does not validate is rejected at ingest
and never reaches a handler). Handlers registered for every kind (``on_any_event``) also see events of types outside
the contract; their ``data`` is then None.

The kind declares ``ingest=True`` in its ``KindSpec`` and ``server.kinds.ServerKinds.register_handlers`` calls those
``register`` functions (the app does so when it is created). Handlers
run in the writer thread, inside the batch's transaction, after the core rows are written. Event, telemetry and
command-result handlers run only for messages stored for the first time (never for duplicates), so what they write
is stored exactly once together with the message; status and config-report handlers run for every such message
(they carry state, so write idempotently). Handlers must not commit. An exception makes ingest store the batch
again with each message's writes and handlers in a SAVEPOINT of their own: the failing message is rolled back alone
and rejected as ``handler_error`` (and acknowledged), the others are stored in the same transaction.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from linli import contract
from linli.contract import DeviceRef, EventData, Kind

log = logging.getLogger(__name__)

P = TypeVar("P")
H = TypeVar("H")


@dataclass(frozen=True)
class IngestContext:
    session: Session
    ref: DeviceRef
    device_id: int
    received_at: datetime


Handler = Callable[[IngestContext, P], None]
#: ``fn(ctx, event, data)``: ``data`` is the typed payload (the model the contract declares for the event's type).
EventHandler = Callable[[IngestContext, contract.Event, Any], None]
TelemetryHandler = Handler[contract.Telemetry]
StatusHandler = Handler[contract.Status]
CommandResultHandler = Handler[contract.CommandResult]
ConfigReportedHandler = Handler[contract.ConfigReported]


@dataclass
class _Table(Generic[H]):
    entries: list[tuple[Kind, tuple[str, ...], H]] = field(default_factory=list)

    def add(self, kind: Kind | str, fn: H, patterns: tuple[str, ...] = ("*",)) -> None:
        self.entries.append((Kind(kind), patterns, fn))

    def find(self, kind: Kind, name: str = "") -> list[H]:
        return [fn for k, pats, fn in self.entries if k == kind and any(fnmatch.fnmatchcase(name, p) for p in pats)]


EventTypes = str | type[EventData] | Iterable[str | type[EventData]]


def _patterns(types: EventTypes) -> tuple[str, ...]:
    items = [types] if isinstance(types, str | type) else list(types)
    return tuple(t if isinstance(t, str) else t.EVENT.type for t in items)


class HandlerRegistry:
    """Handlers per device kind (and, for events, per event type glob such as ``"gate.*"``)."""

    def __init__(self) -> None:
        self.events: _Table[EventHandler] = _Table()
        self.telemetry: _Table[TelemetryHandler] = _Table()
        self.status: _Table[StatusHandler] = _Table()
        self.cmd_results: _Table[CommandResultHandler] = _Table()
        self.config_reported: _Table[ConfigReportedHandler] = _Table()
        self.loaded: list[str] = []

    def on_event(self, kind: Kind | str, fn: EventHandler, types: EventTypes = "*") -> None:
        """``fn`` for events of ``kind`` whose type matches: a payload model, a type or a glob (``"door.*"``)."""
        self.events.add(kind, fn, _patterns(types))

    def on_any_event(self, fn: EventHandler, types: EventTypes = "*") -> None:
        """``fn`` for the events of every kind (cross-cutting handlers such as alarms → work orders)."""
        for kind in Kind:
            self.on_event(kind, fn, types)

    def on_telemetry(self, kind: Kind | str, fn: TelemetryHandler) -> None:
        self.telemetry.add(kind, fn)

    def on_status(self, kind: Kind | str, fn: StatusHandler) -> None:
        self.status.add(kind, fn)

    def on_cmd_result(self, kind: Kind | str, fn: CommandResultHandler) -> None:
        self.cmd_results.add(kind, fn)

    def on_config_reported(self, kind: Kind | str, fn: ConfigReportedHandler) -> None:
        self.config_reported.add(kind, fn)

