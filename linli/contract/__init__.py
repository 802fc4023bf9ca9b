"""The wire contract between linli agents and the linli server: one place, versioned.

- :mod:`linli.contract.topics` — device identity and the MQTT topic tree (every topic string is built here);
- :mod:`linli.contract.payloads` — the generic payloads of each channel (status, telemetry, event envelope,
  command, command result, desired/reported config), ``extra="forbid"``, schema version ``v``;
- :mod:`linli.contract.spec` — how a kind declares its events, commands and human names;
- one module per kind (:mod:`~linli.contract.lift_guard`, :mod:`~linli.contract.gate`,
  :mod:`~linli.contract.charger`, :mod:`~linli.contract.taxi_kiosk`, :mod:`~linli.contract.probe`) and
  :mod:`~linli.contract.runtime` for the events every agent sends.

Edge and server import this package; neither writes a topic string or an event type of its own.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from . import charger, gate, lift_guard, probe, runtime, taxi_kiosk
from .payloads import (
    PAYLOAD_MODELS,
    Command,
    CommandResult,
    ConfigDesired,
    ConfigReported,
    Event,
    EventId,
    Health,
    Name,
    Payload,
    PayloadError,
    PayloadFault,
    Scalar,
    Severity,
    Sha256,
    Status,
    Telemetry,
    UtcDatetime,
    _first_error,
    _utc,
    check_blob,
    decode,
    json_depth,
    loads,
    new_id,
    offline_status,
    sha256_hex,
    utcnow,
)
from .spec import (
    AUDIENCES,
    PEOPLE,
    SERVER_ONLY,
    Args,
    Audience,
    CommandInfo,
    EventData,
    EventInfo,
    KindContract,
    Label,
    NoArgs,
    Sender,
    event_types,
)
from .topics import (
    CMD_NAME_RE,
    EVENT_TYPE_RE,
    MAX_BLOB_BYTES,
    MAX_INT,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    NAME_RE,
    SCHEMA_VERSION,
    SHA256_RE,
    SHARE_GROUP,
    TOPIC_ROOT,
    ULID_RE,
    Channel,
    ContractError,
    DeviceRef,
    Kind,
    ParsedTopic,
    _check_name,
    parse_topic,
    server_acl_pattern,
    server_subscriptions,
)

#: What each kind declares (events, commands, faults, states, gauges).
KINDS: dict[Kind, KindContract] = {
    Kind.lift_guard: lift_guard.CONTRACT,
    Kind.gate: gate.CONTRACT,
    Kind.charger: charger.CONTRACT,
    Kind.taxi_kiosk: taxi_kiosk.CONTRACT,
    Kind.probe: probe.CONTRACT,
}
#: Events every agent sends, whatever its kind.
RUNTIME_EVENTS: dict[str, type[EventData]] = {m.EVENT.type: m for m in runtime.EVENTS}

Table = Literal["faults", "states", "gauges"]


def event_model(kind: Kind | str, type: str) -> type[EventData] | None:
    """The payload model of event ``type`` from a device of ``kind`` (None: not in the contract)."""
    k = KINDS.get(Kind(kind))
    found = k.event_models.get(type) if k is not None else None
    return found or RUNTIME_EVENTS.get(type)


def all_event_models() -> dict[str, type[EventData]]:
    """Every event type of every kind (and the runtime's), by type."""
    out = dict(RUNTIME_EVENTS)
    for k in KINDS.values():
        out.update(k.event_models)
    return out


def parse_event_data(kind: Kind | str, type: str, data: Mapping[str, Any]) -> EventData:
    """Validate ``Event.data`` of a ``kind`` device's ``type`` event. Raises ContractError with a one-line reason."""
    model = event_model(kind, type)
    if model is None:
        raise ContractError(f"event type {type!r} is not in the contract of kind {Kind(kind).value}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{type}: {_first_error(exc)}") from None


def command_info(kind: Kind | str, name: str) -> CommandInfo | None:
    return KINDS[Kind(kind)].command(name)


def label(kind: Kind | str, table: Table, key: str) -> Label | None:
    """The human name of a fault, state or gauge of ``kind``; gauge tables may hold glob patterns (``p*_w``)."""
    k = KINDS[Kind(kind)]
    tab: Mapping[str, Label] = getattr(k, table)
    extra: Mapping[str, Label] = {"states": runtime.STATES, "gauges": runtime.HEALTH}.get(table, {})
    if key in tab:
        return tab[key]
    if key in extra:
        return extra[key]
    return next((lab for pat, lab in tab.items() if "*" in pat and fnmatch.fnmatchcase(key, pat)), None)


def audience_of(kind: Kind | str, type: str, data: Mapping[str, Any]) -> Audience:
    """Who is told of a ``kind`` device's ``type`` event with this data (``record`` for a type not in the
    contract or data that does not validate: it is kept, nobody is paged for it)."""
    model = event_model(kind, type)
    if model is None:
        return "record"
    try:
        return model.model_validate(data).event_audience()
    except ValidationError:
        return model.EVENT.default_audience


__all__ = [
    "AUDIENCES",
    "CMD_NAME_RE",
    "EVENT_TYPE_RE",
    "KINDS",
    "MAX_BLOB_BYTES",
    "MAX_INT",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "NAME_RE",
    "PAYLOAD_MODELS",
    "PEOPLE",
    "RUNTIME_EVENTS",
    "SCHEMA_VERSION",
    "SERVER_ONLY",
    "SHA256_RE",
    "SHARE_GROUP",
    "TOPIC_ROOT",
    "ULID_RE",
    "Args",
    "Audience",
    "Channel",
    "Command",
    "CommandInfo",
    "CommandResult",
    "ConfigDesired",
    "ConfigReported",
    "ContractError",
    "DeviceRef",
    "Event",
    "EventData",
    "EventId",
    "EventInfo",
    "Health",
    "Kind",
    "KindContract",
    "Label",
    "Name",
    "NoArgs",
    "ParsedTopic",
    "Payload",
    "PayloadError",
    "PayloadFault",
    "Scalar",
    "Sender",
    "Severity",
    "Sha256",
    "Status",
    "Telemetry",
    "UtcDatetime",
    "_check_name",
    "_first_error",
    "_utc",
    "all_event_models",
    "audience_of",
    "charger",
    "check_blob",
    "command_info",
    "decode",
    "event_model",
    "event_types",
    "gate",
    "json_depth",
    "label",
    "lift_guard",
    "loads",
    "new_id",
    "offline_status",
    "parse_event_data",
    "parse_topic",
    "probe",
    "runtime",
    "server_acl_pattern",
    "server_subscriptions",
    "sha256_hex",
    "taxi_kiosk",
    "utcnow",
]
