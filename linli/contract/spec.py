"""How a kind declares its part of the wire contract, once, next to the definitions.

A kind's module (``linli.contract.<kind>``) declares:

- its **event types**: one :class:`EventData` subclass per type, whose ``EVENT`` (:class:`EventInfo`) names the
  type, its severity, its human names (zh/en) and the units of its numeric fields. The agent emits an instance
  (``ctx.emit(model)`` takes type and severity from it); the server validates ``Event.data`` with the same class
  and hands its handlers the instance.
- its **commands**: :class:`CommandInfo` — name, argument model, who may send it, human names.
- human names (and units) of its **faults**, **states** and **gauges**: tables of :class:`Label`.

All of it is gathered in a :class:`KindContract` (``linli.contract.KINDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from linli.i18n import Lang

from .payloads import Severity
from .topics import CMD_NAME_RE, EVENT_TYPE_RE, Kind

#: Who may send a command: a server role (admin, maintenance…). ``server`` = only the server itself (e.g. list
#: sync, acknowledgements), never a person through the API.
Sender = Literal["admin", "maintenance", "server"]
PEOPLE: frozenset[Sender] = frozenset({"admin", "maintenance"})
SERVER_ONLY: frozenset[Sender] = frozenset({"server"})

#: Who is told about an event, and how:
#: ``guard`` — a guard alert (security: blacklisted car, tailgating, forced door…), shown on the device's server
#: page and the lane's local page, acknowledged and cleared by the guard;
#: ``maintenance`` — a maintenance work order (device faults);
#: ``manager`` — a manager notice (business: refused charging, a longest-hold release, failed payments…);
#: ``record`` — nobody is told: the event is kept and shown in the event lists.
Audience = Literal["guard", "maintenance", "manager", "record"]
AUDIENCES: tuple[Audience, ...] = ("guard", "maintenance", "manager", "record")


@dataclass(frozen=True, slots=True)
class Label:
    """What people read for one identifier: Simplified Chinese first, English available; unit if it has one."""

    zh: str
    en: str
    unit: str | None = None

    def text(self, lang: Lang = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, slots=True)
class EventInfo:
    """Declaration of one event type (see :class:`EventData`)."""

    type: str
    severity: Severity
    zh: str
    en: str
    #: Unit of each numeric field of the payload that has one (``s``, ``W``, ``fen``…).
    units: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Who is told (see :data:`Audience`). ``None``: a device fault if the declared severity is ``alarm``, else
    #: nobody; declare it for every security and business event.
    audience: Audience | None = None

    def __post_init__(self) -> None:
        if not EVENT_TYPE_RE.fullmatch(self.type):
            raise ValueError(f"event type {self.type!r} is not allowed")
        if self.audience is not None and self.audience not in AUDIENCES:
            raise ValueError(f"event type {self.type!r}: unknown audience {self.audience!r}")

    @property
    def default_audience(self) -> Audience:
        if self.audience is not None:
            return self.audience
        return "maintenance" if self.severity == "alarm" else "record"

    @property
    def label(self) -> Label:
        return Label(self.zh, self.en)


class EventData(BaseModel):
    """Base of every event payload (``Event.data``). A subclass that is an event type sets ``EVENT``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    EVENT: ClassVar[EventInfo]

    def event_severity(self) -> Severity:
        """The severity of this event: the declared one, unless the type's rule depends on the data."""
        return self.EVENT.severity

    def event_audience(self) -> Audience:
        """Who is told of this event: the declared audience, unless the type's rule depends on the data."""
        return self.EVENT.default_audience

    def to_data(self) -> dict[str, Any]:
        """``Event.data`` as sent on the wire (every field, ``null`` included: readers see the same keys)."""
        return self.model_dump(mode="json")


class Args(BaseModel):
    """Base of command argument models."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    """A command without arguments."""


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """Declaration of one command a kind's devices take."""

    name: str
    args: type[BaseModel] | None
    zh: str
    en: str
    #: Who may send it (server roles, or ``server`` for commands only the server itself sends).
    senders: frozenset[Sender] = PEOPLE
    #: Offered as a safe test action on the device's local maintenance page.
    local: bool = False

    def __post_init__(self) -> None:
        if not CMD_NAME_RE.fullmatch(self.name):
            raise ValueError(f"command name {self.name!r} is not allowed")

    @property
    def label(self) -> Label:
        return Label(self.zh, self.en)

    def may_send(self, role: str) -> bool:
        return role in self.senders


@dataclass(frozen=True)
class KindContract:
    """Everything one kind declares."""

    kind: Kind
    events: tuple[type[EventData], ...]
    commands: tuple[CommandInfo, ...] = ()
    faults: Mapping[str, Label] = field(default_factory=dict)
    states: Mapping[str, Label] = field(default_factory=dict)
    gauges: Mapping[str, Label] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for model in self.events:
            t = model.EVENT.type
            if t in seen:
                raise ValueError(f"{self.kind.value}: event type {t} declared twice")
            seen.add(t)
            fields = model.model_fields
            for name in model.EVENT.units:
                if name not in fields:
                    raise ValueError(f"{t}: unit for unknown field {name!r}")
        names = [c.name for c in self.commands]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind.value}: a command is declared twice")

    @property
    def event_models(self) -> dict[str, type[EventData]]:
        return {m.EVENT.type: m for m in self.events}

    def command(self, name: str) -> CommandInfo | None:
        return next((c for c in self.commands if c.name == name), None)


def event_types(*models: type[EventData]) -> tuple[str, ...]:
    """The type strings of these models (for handler registration)."""
    return tuple(m.EVENT.type for m in models)
