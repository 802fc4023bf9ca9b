"""The agent's device YAML → pydantic :class:`AgentConfig`, plus the kind's own ``app:`` section.

Errors are one line naming the file, the key path and what is allowed, e.g.::

    config/x.yaml: mqtt.port: Input should be less than or equal to 65535 (got 70000)
    config/x.yaml: mqtt.prot: unknown key (allowed: host, port, password_file, ...)

Secrets never sit in the YAML: the MQTT account comes from the secret file written by ``linli provision``
(or an environment variable), the local page's password from an argon2 hash, a file or an environment variable.
"""

from __future__ import annotations

import hashlib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.hal.config import HalConfig
from linli.contract import DeviceRef, Kind, _check_name
from linli.failover import parse_hosts

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigError(ValueError):
    """A config that cannot be used. ``str()`` is the one line to show (file: key: what is wrong)."""


def _name(what: str) -> AfterValidator:
    return AfterValidator(lambda v: _check_name(what, v))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_secret(model: BaseModel, fields: tuple[str, ...], where: str) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) != 1:
        raise ValueError(f"{where} needs exactly one of {', '.join(fields)} (got {', '.join(given) or 'none'})")


class TlsConfig(_Section):
    ca_file: Path = Field(title="CA file", description="PEM file of the CA that signed the broker's certificate.")
    insecure: bool = Field(
        False, title="Skip host name check", description="Accept a certificate whose name does not match the host "
        "(only for commissioning against a broker reached by IP).")


class MqttConfig(_Section):
    host: str = Field("127.0.0.1", min_length=1, title="Broker host", description="Host name or IP of the broker.")
    port: int = Field(1883, ge=1, le=65535, title="Broker port", description="TCP port (1883 plain, 8883 TLS).")
    hosts: list[str] = Field(
        default_factory=list, title="Broker nodes",
        description="Every node of a clustered broker as host:port (host alone = the port above). When set, it "
        "replaces host/port: the agent connects to the first and moves on to the next when a node fails. Use "
        "protocol 3.1.1 with NATS.")
    password_file: Path | None = Field(
        None, title="Secret file", description="Device secret file written by `linli provision` "
        "(JSON with username and password). Relative paths are relative to the working directory.")
    password_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", title="Password variable",
        description="Name of an environment variable holding the password (instead of password_file); the "
        "username is then the device's standard account dev.<site>.<device>.")
    keepalive: int = Field(30, ge=5, le=600, title="Keep-alive (s)",
                           description="MQTT keep-alive; the broker publishes the offline LWT after 1.5x this.")
    reconnect_min_s: float = Field(1.0, gt=0, le=60, title="Reconnect min (s)",
                                   description="First wait before reconnecting; doubles on each failure.")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, title="Reconnect max (s)",
                                   description="Longest wait between reconnect attempts (plus up to 30 % jitter).")
    tls: TlsConfig | None = Field(None, title="TLS", description="Connect with TLS; leave empty for plain TCP.")
    protocol: Literal["5", "3.1.1"] = Field(
        "5", title="MQTT version",
        description="5 with Mosquitto (default); 3.1.1 for brokers that only speak it (the embedded amqtt).")

    @model_validator(mode="after")
    def _check(self) -> Self:
        _one_secret(self, ("password_file", "password_env"), "mqtt")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("mqtt.reconnect_min_s must not be larger than reconnect_max_s")
        parse_hosts(self.hosts, self.port)  # a bad entry is refused at mqtt.hosts
        return self

    def addresses(self) -> list[tuple[str, int]]:
        """The brokers to try, in order: ``hosts``, or else ``host``:``port``."""
        return parse_hosts(self.hosts, self.port) if self.hosts else [(self.host, self.port)]


class OutboxConfig(_Section):
    path: Path | None = Field(
        None, title="Database file",
        description="SQLite file of the store-and-forward queue; default <data_dir>/outbox.sqlite.")
    max_messages: int = Field(50_000, ge=10, le=10_000_000, title="Capacity (messages)",
                              description="When full, the oldest telemetry is dropped; events and alarms never are.")
    replay_rate_per_s: float = Field(50.0, gt=0, le=10_000, title="Send rate (msg/s)",
                                     description="Token-bucket limit on messages sent, so that a replay after a long "
                                     "outage does not flood the link.")
    max_inflight: int = Field(20, ge=1, le=1000, title="In-flight window",
                              description="Messages sent and not yet acknowledged (PUBACK) at any time.")
    ack_timeout_s: float = Field(30.0, ge=1, le=3600, title="Acknowledgement timeout (s)",
                                 description="A message still unacknowledged this long on a live connection is sent "
                                 "again (the server keeps one copy), so a lost acknowledgement never stalls the queue.")
    memory_max: int = Field(1000, ge=1, le=1_000_000, title="Memory queue (messages)",
                            description="When the disk is full or failing, up to this many messages wait in memory "
                            "until it takes writes again; more are counted as lost and reported.")


class LocalPageConfig(_Section):
    enabled: bool = Field(True, title="Enabled", description="Serve the local maintenance page.")
    host: str = Field("0.0.0.0", min_length=1, title="Listen address",
                      description="0.0.0.0 = every interface (staff on the site LAN); 127.0.0.1 = this machine only.")
    port: int = Field(8601, ge=0, le=65535, title="Port", description="TCP port of the page (0 = any free port).")
    username: str = Field("maint", pattern=r"^[A-Za-z0-9_.-]{1,32}$", title="Username",
                          description="Login name for the page (HTTP Basic).")
    password_hash: str | None = Field(
        None, pattern=r"^\$argon2(id|i|d)\$", title="Password hash",
        description="argon2 hash of the password (`python -m edge.runtime.localpage.auth` makes one).")
    password_file: Path | None = Field(None, title="Password file",
                                       description="File (0600) holding the password or its argon2 hash.")
    password_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$", title="Password variable",
                                     description="Name of an environment variable holding the password.")

    tls_cert_file: Path | None = Field(None, title="HTTPS certificate",
                                       description="PEM certificate (e.g. from `linli provision --tls-cert`); "
                                       "with tls_key_file the page is served over HTTPS.")
    tls_key_file: Path | None = Field(None, title="HTTPS key", description="PEM private key of tls_cert_file.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.enabled:
            _one_secret(self, ("password_hash", "password_file", "password_env"), "local_page")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("local_page.tls_cert_file and tls_key_file go together")
        return self


class WatchdogConfig(_Section):
    enabled: bool = Field(True, title="Enabled", description="Watch the app's loops.")
    timeout_s: float = Field(10.0, ge=0.1, le=3600, title="Timeout (s)",
                             description="A loop that has not kicked for this long is stuck: every relay drops to "
                             "safe and an alarm event is raised.")
    systemd: bool = Field(True, title="systemd watchdog",
                          description="When run under systemd with WatchdogSec=, ping it while every loop is alive "
                          "(so that a hung process is restarted).")


class MemoryConfig(_Section):
    release_startup_pages_after_s: float = Field(
        30.0, ge=0, le=86_400, title="Give back start-up pages after (s)",
        description="This long after start, ask the kernel to reclaim the read-only library pages that only "
        "start-up used (they come back from disk when needed; nothing is lost). 0: never.")


class UpdateConfig(_Section):
    enabled: bool = Field(False, title="Enabled",
                          description="Accept signed software updates from the server (`linli install` turns it on).")
    prefix: Path = Field(Path("/opt/linli"), title="Install prefix",
                         description="Where the release slots (slots/a, slots/b) and the `current` link live.")
    public_key_file: Path = Field(Path("/etc/linli/secrets/update.pub"), title="Trusted key",
                                  description="Ed25519 public key (PEM) a release must be signed with.")
    healthy_after_s: float = Field(20.0, ge=1, le=3600, title="Healthy after (s)",
                                   description="A new release is healthy once connected with every loop alive for "
                                   "this long.")
    deadline_s: float = Field(300.0, ge=10, le=86_400, title="Deadline (s)",
                              description="A new release not healthy this long after the switch is rolled back.")
    max_attempts: int = Field(3, ge=1, le=20, title="Starts allowed",
                              description="Starts of a new release (crashes, watchdog kills) before it is rolled back.")
    download_timeout_s: float = Field(600.0, ge=10, le=86_400, title="Download time limit (s)",
                                      description="Give up a download (with retries and resume) after this long.")


class AgentConfig(_Section):
    """A device agent's configuration (one YAML file per device)."""

    site: Annotated[str, _name("site")] = Field(title="Site", description="Site (compound) id, e.g. sh-caoyang-01.")
    kind: Kind = Field(title="Kind", description="Device kind; selects the app and the meaning of `app:`.")
    device: Annotated[str, _name("device")] = Field(title="Device", description="Device id within the site.")
    mqtt: MqttConfig = Field(title="MQTT", description="Connection to the site broker.")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, title="Outbox",
                                 description="Store-and-forward queue for everything the device sends.")
    telemetry_interval_s: float = Field(30.0, ge=0.1, le=86_400, title="Telemetry interval (s)",
                                        description="Seconds between heartbeats (health figures + app gauges).")
    local_page: LocalPageConfig = Field(title="Local page", description="Maintenance page served by the agent.")
    hal: HalConfig = Field(default_factory=HalConfig, title="Hardware",
                           description="Relays, inputs, cameras, serial ports and speaker of this device.")
    app: dict[str, Any] = Field(default_factory=dict, title="App",
                                description="The kind's own section, validated by that kind's config model.")
    data_dir: Path = Field(Path("var/agent"), title="Data folder",
                           description="Where the outbox, applied remote config and audit log live.")
    log_level: LogLevel = Field("INFO", title="Log level", description="Least severe log level written.")
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig, title="Watchdog",
                                     description="Stuck-loop detection.")
    memory: MemoryConfig = Field(default_factory=MemoryConfig, title="Memory",
                                 description="Keeping the agent small on a Raspberry Pi.")
    update: UpdateConfig = Field(default_factory=UpdateConfig, title="Software updates",
                                 description="Signed updates into the inactive slot with automatic rollback.")

    @property
    def ref(self) -> DeviceRef:
        return DeviceRef(self.site, self.kind, self.device)

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path if self.outbox.path is not None else self.data_dir / "outbox.sqlite"


# ------------------------------------------------------------------------------------------- errors
def _unwrap(tp: Any) -> list[Any]:
    """The candidate types behind Annotated / Optional / unions."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for a in typing.get_args(tp):
            if a is not type(None):
                out += _unwrap(a)
        return out
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model reached by following ``loc`` from ``root`` (None when not a model)."""
    current: list[Any] = [root]
    for seg in loc:
        nxt: list[Any] = []
        for tp in current:
            for t in _unwrap(tp):
                if _is_model(t):
                    if isinstance(seg, str) and seg in t.model_fields:
                        nxt.append(t.model_fields[seg].annotation)
                    elif seg == t.__name__:  # pydantic names the union member in the location
                        nxt.append(t)
                else:
                    origin = typing.get_origin(t)
                    args = typing.get_args(t)
                    if origin in (dict, typing.Mapping) and len(args) == 2:
                        nxt.append(args[1])
                    elif origin in (list, tuple, set, typing.Sequence) and args:
                        nxt.append(args[0])
        current = nxt
    for tp in current:
        for t in _unwrap(tp):
            if _is_model(t):
                return list(t.model_fields)
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_validation_error(exc: ValidationError, root: type[BaseModel], source: str,
                            prefix: tuple[str, ...] = ()) -> str:
    """One line for the first error (plus how many more) of a validation of ``root``."""
    errors = exc.errors(include_url=False)
    e = errors[0]
    loc = tuple(e["loc"])
    path = ".".join(str(x) for x in (*prefix, *loc)) or "(top level)"
    kind = e["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        msg = "unknown key"
        if "password" in str(loc[-1]).lower():
            msg += " (a plain password never goes in the YAML)"
        msg += f" (allowed: {', '.join(allowed)})" if allowed else ""
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if kind not in ("value_error", "assertion_error"):
            msg += f" (got {_short(e.get('input'))})"
    more = f" [+{len(errors) - 1} more error{'s' if len(errors) > 2 else ''}]" if len(errors) > 1 else ""
    return f"{source}: {path}: {msg}{more}"


# ------------------------------------------------------------------------------------------- loading
@dataclass
class LoadedConfig:
    """A validated device config: the agent part, the app's own section, and where it came from."""

    path: Path
    source: str  # the path as the user wrote it, for messages
    text: str
    agent: AgentConfig
    app_cfg: BaseModel
    app_class: type

    @property
    def version(self) -> str:
        """Short content hash of the YAML file: the ``config_version`` in the device status."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


def validate_app_section(app_class: type, raw: dict[str, Any], hal: HalConfig, source: str) -> BaseModel:
    """Validate an ``app:`` mapping with the kind's config model; ConfigError with path ``app.…`` on failure."""
    model: type[BaseModel] = app_class.config_model  # type: ignore[attr-defined]
    try:
        return model.model_validate(raw, context={"hal": hal})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, source, prefix=("app",))) from None


def parse_config(data: Any, source: str, text: str = "", path: Path | None = None) -> LoadedConfig:
    from edge.apps import AppNotFound, load_app

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        agent = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, AgentConfig, source)) from None
    try:
        app_class = load_app(agent.kind)
    except AppNotFound as exc:
        raise ConfigError(f"{source}: kind: {exc}") from None
    app_cfg = validate_app_section(app_class, agent.app, agent.hal, source)
    return LoadedConfig(path or Path(source), source, text, agent, app_cfg, app_class)


def load_config(path: str | os.PathLike[str]) -> LoadedConfig:
    """Read and validate a device YAML. Raises ConfigError with one line naming the file and the key."""
    source = os.fspath(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, not a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: {where}not valid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    return parse_config(data, source, text, p)


# ------------------------------------------------------------------------------------------- views
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key")


def redact(obj: Any) -> Any:
    """A copy with secret values replaced by '***' (names and file paths of secrets stay visible)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            key = str(k).lower()
            is_ref = key.endswith(("_file", "_env", "_path"))
            if any(w in key for w in _SECRET_WORDS) and not is_ref and v is not None:
                out[k] = "***"
            else:
                out[k] = redact(v)
        return out
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    return obj


def effective_config(loaded: LoadedConfig, app_cfg: BaseModel | None = None) -> dict[str, Any]:
    """The config in force, as plain JSON-able data, secrets redacted."""
    doc = loaded.agent.model_dump(mode="json")
    doc["outbox"]["path"] = str(loaded.agent.outbox_path)
    doc["app"] = (app_cfg or loaded.app_cfg).model_dump(mode="json")
    return redact(doc)


def agent_json_schema(kind: Kind | str | None = None) -> dict[str, Any]:
    """JSON schema of a device YAML; with a kind, ``app`` is that kind's config schema."""
    schema = AgentConfig.model_json_schema()
    if kind is not None:
        from edge.apps import load_app

        app_schema = load_app(kind).config_model.model_json_schema()
        defs = schema.setdefault("$defs", {})
        for name, d in app_schema.pop("$defs", {}).items():
            defs.setdefault(name, d)
        schema["properties"]["app"] = {**app_schema, "title": "App", "description": f"The {Kind(kind).value} section."}
        schema["properties"]["kind"] = {"const": Kind(kind).value, "title": "Kind", "description": "Device kind."}
    return schema


def schema_main(argv: list[str] | None = None) -> int:
    """``python -m edge.runtime.config [KIND]``: the JSON schema of a device YAML (with KIND: its ``app:`` too)."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m edge.runtime.config",
                                description="Print the JSON schema of a linli device YAML (for editors and checks).")
    p.add_argument("kind", nargs="?", choices=[k.value for k in Kind],
                   help="include that kind's app: section (default: the common part only)")
    args = p.parse_args(argv)
    print(json.dumps(agent_json_schema(args.kind), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(schema_main())
