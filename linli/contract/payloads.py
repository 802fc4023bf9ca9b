"""Payload models of the generic channels (status, telemetry, event envelope, command, results, config).

Every payload is a pydantic model (``extra="forbid"``, schema version ``v``). What travels inside ``Event.data``
and ``Command.args`` is declared per kind in ``linli.contract.<kind>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from ulid import ULID

from .topics import (
    EVENT_TYPE_RE,
    MAX_BLOB_BYTES,
    MAX_INT,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    NAME_RE,
    SCHEMA_VERSION,
    SHA256_RE,
    ULID_RE,
    Channel,
    ContractError,
    Kind,
)


# ------------------------------------------------------------------------------------------- payloads
def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Name = Annotated[str, Field(pattern=NAME_RE.pattern)]
Sha256 = Annotated[str, Field(pattern=SHA256_RE.pattern)]
EventId = Annotated[str, Field(pattern=ULID_RE.pattern, description="ULID made on the device")]
Scalar = float | int | bool | str | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A new ULID (time-sortable, made on the device)."""
    return str(ULID())


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = Field(default=SCHEMA_VERSION, description="schema version")

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class Status(Payload):
    """Retained device state. The LWT is the same model with state=offline."""

    state: Literal["online", "offline", "stopping"]
    kind: Kind
    ts: UtcDatetime = Field(default_factory=utcnow)
    boot_time: UtcDatetime | None = None
    software: str = ""
    model_version: str | None = None
    config_version: str | None = None
    hostname: str | None = None


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_pct: float = Field(ge=0)
    mem_pct: float = Field(ge=0, le=100)
    rss_mb: float = Field(ge=0)
    disk_pct: float = Field(ge=0, le=100)
    soc_temp_c: float | None = None
    fps: float | None = None
    outbox_depth: int = Field(ge=0)
    outbox_dropped: int = Field(ge=0)
    uptime_s: float = Field(ge=0)


class Telemetry(Payload):
    ts: UtcDatetime = Field(default_factory=utcnow)
    health: Health
    gauges: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict, max_length=200)


Severity = Literal["info", "warning", "alarm"]


class Event(Payload):
    id: EventId = Field(default_factory=new_id)
    type: Annotated[str, Field(pattern=EVENT_TYPE_RE.pattern, max_length=64)]
    ts: UtcDatetime = Field(default_factory=utcnow)
    severity: Severity = "info"
    data: dict[str, Any] = Field(default_factory=dict)
    blobs: list[Sha256] = Field(default_factory=list, max_length=16)


class Command(Payload):
    id: EventId = Field(default_factory=new_id)
    args: dict[str, Any] = Field(default_factory=dict)
    by: Annotated[str, Field(min_length=1, max_length=64)]
    issued: UtcDatetime = Field(default_factory=utcnow)
    expires: UtcDatetime

    @classmethod
    def make(cls, by: str, args: dict[str, Any] | None = None, ttl_s: float = 60.0) -> Command:
        now = utcnow()
        return cls(by=by, args=args or {}, issued=now, expires=now + timedelta(seconds=ttl_s))

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires


class CommandResult(Payload):
    id: EventId
    name: str
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=2000)
    ts: UtcDatetime = Field(default_factory=utcnow)


class ConfigDesired(Payload):
    version: int = Field(ge=1)
    overrides: dict[str, Any]
    by: str = Field(min_length=1, max_length=64)
    ts: UtcDatetime = Field(default_factory=utcnow)


class ConfigReported(Payload):
    version: int = Field(ge=0, description="desired version last seen; 0 = none")
    ok: bool
    applied_version: int = Field(ge=0, description="the override version in force")
    error: str | None = Field(default=None, max_length=4000)
    ts: UtcDatetime = Field(default_factory=utcnow)


PAYLOAD_MODELS: dict[Channel, type[Payload]] = {
    Channel.status: Status,
    Channel.telemetry: Telemetry,
    Channel.event: Event,
    Channel.cmd: Command,
    Channel.cmd_result: CommandResult,
    Channel.config_desired: ConfigDesired,
    Channel.config_reported: ConfigReported,
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_error(exc: ValidationError) -> str:
    errs = exc.errors()
    parts = []
    for e in errs[:3]:
        loc = ".".join(str(x) for x in e["loc"]) or "(payload)"
        parts.append(f"{loc}: {e['msg']}")
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return "; ".join(parts) + more


PayloadFault = Literal["oversized", "malformed", "too_deep", "non_finite", "number_range", "schema"]


class PayloadError(ContractError):
    """A payload refused before or while parsing; ``reason`` says which class of fault it is."""

    def __init__(self, reason: PayloadFault, message: str) -> None:
        super().__init__(message)
        self.reason: PayloadFault = reason


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_depth(payload: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply arrays and objects nest in a JSON text (without parsing it; stops counting past ``limit``)."""
    if payload.count(b"[") + payload.count(b"{") <= limit:  # cannot be deeper than it has brackets
        return min(limit, payload.count(b"[") + payload.count(b"{"))
    brackets = _JSON_STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for c in brackets:
        if c in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise PayloadError("non_finite", f"{name} is not a number JSON allows")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 20 or not -(2**63) <= (value := int(text)) <= MAX_INT:
        raise PayloadError("number_range", f"integer {text[:24]}… is out of range (-2^63 … 2^64 - 1)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadError("number_range", f"number {text[:24]} is out of range")
    return value


#: One decoder, made once (``json.loads`` with hooks would build a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_int=_int, parse_float=_float)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def loads(payload: bytes) -> Any:
    """Parse JSON from the wire, refusing what could hurt the receiver: over the size limit, nested deeper than
    :data:`MAX_JSON_DEPTH`, ``NaN``/``Infinity``, integers beyond 64 bits, numbers that overflow, text that is not
    UTF-8 (or escapes lone surrogates). Raises :class:`PayloadError` naming the fault."""
    if len(payload) > MAX_JSON_BYTES:
        raise PayloadError("oversized", f"payload of {len(payload)} bytes is over the {MAX_JSON_BYTES}-byte limit")
    if (depth := json_depth(payload)) > MAX_JSON_DEPTH:
        raise PayloadError("too_deep", f"payload nests deeper than {MAX_JSON_DEPTH} levels ({depth}+)")
    try:
        obj = _DECODER.decode(payload.decode("utf-8"))
    except PayloadError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError("malformed", f"payload is not JSON: {str(exc)[:200]}") from None
    if _SURROGATE_ESCAPE.search(payload) and _has_lone_surrogate(obj):
        raise PayloadError("malformed", "payload has a lone UTF-16 surrogate in a string")
    return obj


def decode(channel: Channel, payload: bytes) -> Payload:
    """Parse a JSON payload of a channel. Raises :class:`PayloadError` (a ContractError) with a one-line reason."""
    if channel is Channel.blob:
        raise ContractError("blobs are raw bytes; use check_blob()")
    obj = loads(payload)
    if not isinstance(obj, dict):
        raise PayloadError("malformed", f"payload is not a JSON object (a {type(obj).__name__})")
    if obj.get("v", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise PayloadError("schema", f"schema version {obj.get('v')!r} is not supported (this side speaks "
                           f"{SCHEMA_VERSION})")
    model = PAYLOAD_MODELS[channel]
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise PayloadError("schema", f"{model.__name__}: {_first_error(exc)}") from None


def check_blob(sha256: str, payload: bytes) -> None:
    """A blob must be under the size limit and hash to the digest named in its topic."""
    if len(payload) > MAX_BLOB_BYTES:
        raise ContractError(f"blob of {len(payload)} bytes is over the {MAX_BLOB_BYTES}-byte limit")
    if not payload:
        raise ContractError("blob is empty")
    actual = sha256_hex(payload)
    if actual != sha256:
        raise ContractError(f"blob hashes to {actual[:12]}…, not to the {sha256[:12]}… its topic names")


def offline_status(kind: Kind, software: str = "") -> Status:
    """The Last-Will payload registered at connect."""
    return Status(state="offline", kind=kind, software=software)
