"""Server settings: one YAML file (``linli server -c config/server.yaml``) validated by pydantic, then environment
overrides ``LINLI_<SECTION>_<KEY>`` (e.g. ``LINLI_DATABASE_URL``, ``LINLI_MQTT_PASSWORD``, ``LINLI_HTTP_PORT``).

Errors name where the bad value came from (the file or the environment variable), the key, and what is allowed.
Relative paths are taken relative to the working directory. Secrets never need to be in the YAML: the broker
password comes from the server's secret file (``linli provision --server``) or ``LINLI_MQTT_PASSWORD``, and users
can live in a separate ``auth.users_file``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from linli.contract import NAME_RE
from linli.failover import parse_hosts
from linli.merge import deep_merge
from linli.provision import Credentials, read_credentials
from server.auth import Role
from server.payments.settings import PaymentSettings

ENV_PREFIX = "LINLI_"
SiteName = Annotated[str, Field(pattern=NAME_RE.pattern)]


class SettingsError(ValueError):
    """A config problem; the message names the source, the key and what is allowed (one problem per line)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatabaseSettings(_Section):
    url: str = Field(default="sqlite:///var/server/linli.db", title="Database URL",
                     description="sqlite:///path.db (default) or postgresql+psycopg://user@host:port/db")
    echo: bool = Field(default=False, description="log every SQL statement (debugging only)")
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000,
                                        description="SQLite: how long a writer waits for a lock before failing")
    pool_size: int = Field(default=5, ge=1, le=100, description="connection pool size (PostgreSQL)")
    migrate_on_start: bool = Field(default=True, description="apply Alembic migrations when the server starts")
    lease_s: float = Field(default=30.0, ge=1, le=3600,
                           description="PostgreSQL with several server processes: a background job's lease lasts "
                                       "this long unless renewed; when its process dies another takes the job over "
                                       "after at most this long")


class MqttSettings(_Section):
    host: str = Field(default="127.0.0.1", description="broker host")
    port: int = Field(default=1884, ge=1, le=65535,
                      description="the broker's listener for the server account (`linli broker --server-port`); "
                                  "devices use another one, where their client id is bound to their account")
    client_id: str = Field(default="linli-server-1", min_length=1, max_length=64,
                           description="fixed client id: the broker keeps this session's queue while the server "
                                       "restarts. Give every server worker its own; never dev.… (device ids).")
    protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version")
    hosts: list[str] = Field(default_factory=list,
                             description="every node of a clustered broker as host:port (host alone = port above); "
                                         "replaces host/port, and the server moves on to the next node when one "
                                         "fails")
    credentials_file: Path | None = Field(default=Path("var/secrets/server.json"),
                                          description="the server's secret file written by `linli provision --server`")
    username: str | None = Field(default=None,
                                 description="broker user; overrides credentials_file together with password")
    password: SecretStr | None = Field(default=None,
                                       description="broker password; set it with LINLI_MQTT_PASSWORD, not here")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 86400, ge=0,
                                  description="MQTT 5: how long the broker keeps the session (and queues for it) "
                                              "while the server is away")
    shared_subscription: bool = Field(
        default=False, description="subscribe as $share/linli/… so several workers split the load. Only for "
        "brokers that keep a persistent session's shared subscription across their own restart: Mosquitto 2.0 "
        "does not (events queued for the server are then lost), so the default is one worker with a plain "
        "persistent subscription")
    tls_ca_file: Path | None = Field(default=None, description="CA file: connect with TLS when set")
    startup_wait_s: float = Field(default=5.0, ge=0, le=120,
                                  description="how long startup waits for the broker subscription before going on")

    @field_validator("client_id")
    @classmethod
    def _not_a_device_id(cls, v: str) -> str:
        if v.startswith("dev."):
            raise ValueError("must not start with dev. (device client ids)")
        return v

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v  # YAML `protocol: 5`

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        parse_hosts(v, 1883)
        return v

    def addresses(self) -> list[tuple[str, int]]:
        """The brokers to try, in order: ``hosts``, or else ``host``:``port``."""
        return parse_hosts(self.hosts, self.port) if self.hosts else [(self.host, self.port)]

    def credentials(self) -> Credentials:
        if self.username and self.password:
            return Credentials(self.username, self.password.get_secret_value())
        if self.credentials_file is None:
            raise SettingsError("mqtt: set credentials_file, or username + LINLI_MQTT_PASSWORD")
        try:
            return read_credentials(self.credentials_file)
        except ValueError as exc:
            raise SettingsError(f"mqtt.credentials_file: {exc}") from None


class IngestSettings(_Section):
    enabled: bool = Field(default=True, description="run MQTT ingest in this process")
    batch_max: int = Field(default=500, ge=1, le=10_000, description="most messages written in one transaction")
    batch_interval_ms: int = Field(default=100, ge=1, le=10_000, description="longest wait to fill a batch")
    receive_maximum: int = Field(default=1000, ge=10, le=65535,
                                 description="QoS1 messages the broker may have unacknowledged in flight to us")
    queue_max: int = Field(default=50_000, ge=100,
                           description="QoS0 (telemetry) is dropped when the queue is this deep")
    rejects_kept: int = Field(default=200, ge=1, le=10_000, description="how many recent rejects the API shows")
    retry_initial_s: float = Field(default=0.2, gt=0, description="first back-off after a database error")
    retry_max_s: float = Field(default=30.0, gt=0, description="longest back-off after database errors")
    stall_s: float = Field(default=30.0, gt=0, le=3600,
                           description="/healthz reports ingest unhealthy when messages wait and none has been "
                                       "stored or rejected for this long")
    stop_timeout_s: float = Field(default=10.0, ge=0,
                                  description="on shutdown, how long to keep trying to store what is "
                                  "queued; the rest stays unacknowledged and the broker redelivers it")


class NatsSettings(_Section):
    """Ingest from a NATS cluster's JetStream (``linli.nats_cluster``) instead of an MQTT subscription."""

    urls: list[str] = Field(default_factory=list,
                            description="NATS client URLs of the cluster's nodes (nats://host:4222). When set, ingest "
                                        "reads device messages from JetStream through one durable consumer that every "
                                        "server worker shares, and MQTT is used only to publish commands and config")
    durable: str = Field(default="linli-ingest", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                         description="name of the shared durable consumer (the same in every worker)")
    ack_wait_s: float = Field(default=30.0, ge=1, le=3600,
                              description="a message not acknowledged this long after delivery (its worker died) "
                                          "goes to another worker")
    max_ack_pending: int = Field(default=20_000, ge=10, le=1_000_000,
                                 description="messages delivered to all workers together and not yet acknowledged")
    fetch_max: int = Field(default=500, ge=1, le=10_000, description="messages asked for in one pull")
    inflight_max: int = Field(default=2000, ge=10, le=100_000,
                              description="messages one worker holds unacknowledged before it pulls more")
    lag_interval_s: float = Field(default=2.0, gt=0, le=600,
                                  description="how often the consumer's backlog is read for /metrics")

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


class HttpSettings(_Section):
    host: str = Field(default="127.0.0.1", description="address the page and API listen on")
    port: int = Field(default=8600, ge=1, le=65535)
    cookie_secure: bool = Field(default=False, description="mark cookies Secure even when a request arrives over "
                                                          "plain HTTP (e.g. behind a TLS proxy that does not say "
                                                          "so); requests over HTTPS get Secure cookies anyway")
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate: serve HTTPS (with tls_key_file)")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class StorageSettings(_Section):
    data_dir: Path = Field(default=Path("var/server"), description="server data folder")
    snapshots_dir: Path | None = Field(default=None, description="snapshot files; default <data_dir>/snapshots")

    @property
    def snapshots(self) -> Path:
        return self.snapshots_dir if self.snapshots_dir is not None else self.data_dir / "snapshots"


class RetentionSettings(_Section):
    snapshot_days: int = Field(default=30, ge=1, le=3650,
                               description="snapshots are purged this many days after arrival")
    interval_s: float = Field(default=3600.0, ge=0.05, description="how often the purge (and command expiry) runs")
    events_days: int = Field(default=400, ge=31, le=36_500,
                             description="PostgreSQL: events are kept this long; a month's partition is dropped "
                                         "once the whole month is older (SQLite keeps every event)")
    telemetry_days: int = Field(default=90, ge=31, le=36_500,
                                description="PostgreSQL: telemetry is kept this long, dropped a month at a time")
    partitions_ahead_months: int = Field(default=3, ge=1, le=24,
                                         description="PostgreSQL: monthly partitions are created this many months "
                                                     "ahead of today")
    partitions_interval_s: float = Field(default=3600.0, ge=0.05, le=86_400,
                                         description="how often partitions are created and old ones dropped")


class CommandSettings(_Section):
    default_ttl_s: float = Field(default=60.0, ge=1, description="command time-to-live when the request gives none")
    max_ttl_s: float = Field(default=3600.0, ge=1, description="longest time-to-live a request may ask for")
    publish_wait_s: float = Field(default=2.0, ge=0, le=30,
                                  description="how long the API waits for the broker's PUBACK")


class UserEntry(_Section):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$",
                               description="argon2 hash from `python -m server.auth hash`")
    role: Role
    sites: list[SiteName] | None = Field(default=None, description="sites this user sees; omitted = all sites")
    display_name: str | None = None


class AuthSettings(_Section):
    users: list[UserEntry] = Field(default_factory=list)
    users_file: Path | None = Field(default=None, description="YAML list of users (same fields), kept out of this file")
    realm: str = "linli"
    session_idle_min: float = Field(default=120, ge=1, le=7 * 24 * 60,
                                    description="a page session ends after this many minutes without a request")
    session_max_h: float = Field(default=12, ge=0.1, le=30 * 24, description="and at the latest this long after login")
    login_max_failures: int = Field(default=5, ge=1, le=100,
                                    description="wrong passwords for one user name (from anywhere) within 5 min "
                                                "before that account is locked out for 5 min")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, le=10_000,
        description="wrong passwords from one address (for any user names) within 5 min before that address is "
                    "locked out for 5 min; spraying user names does not get around it")
    login_lockout_s: float = Field(default=300, ge=1, le=86_400, description="how long a lock-out lasts")
    max_concurrent_hashes: int = Field(
        default=2, ge=1, le=64,
        description="password checks (argon2, 64 MiB each) running at once; more sign-ins at the same moment get "
                    "503 'busy' at once instead of piling up memory and CPU")


class WorkOrderSettings(_Section):
    respond_min: float = Field(default=30, gt=0, le=7 * 24 * 60,
                               description="SLA: an order must be dispatched this many minutes after it opens")
    fix_h: float = Field(default=24, gt=0, le=90 * 24, description="SLA: and handled this many hours after it opens")
    offline_after_min: float = Field(default=10, gt=0, le=7 * 24 * 60,
                                     description="a device offline this long opens a work order (fault device.offline)")
    check_interval_s: float = Field(default=30, ge=0.05, le=3600,
                                    description="how often offline devices and SLA deadlines are checked")
    severities: list[Literal["warning", "alarm"]] = Field(
        default_factory=lambda: ["alarm"], description="event severities that open a work order by themselves")
    max_photo_mb: float = Field(default=8, gt=0, le=64, description="largest photo a handler may upload")


class HomeAssistantSettings(_Section):
    enabled: bool = Field(default=False, description="publish MQTT discovery and device state for Home Assistant "
                          "(read-only; HA connects with the account from `linli provision --homeassistant`)")


class UpdateSettings(_Section):
    public_key_file: Path | None = Field(
        default=None, description="Ed25519 public key (PEM) releases must be signed with (`linli release keygen`); "
        "without it no release can be uploaded")
    release_dir: Path | None = Field(default=None, description="where releases are kept; default <data_dir>/releases")
    base_url: str | None = Field(default=None, description="the address devices download releases from, e.g. "
                                 "http://10.0.0.2:8600; default http://<http.host>:<http.port>")
    check_interval_s: float = Field(default=5.0, ge=0.05, le=3600, description="how often roll-outs advance")
    step_timeout_s: float = Field(default=900.0, ge=1, le=86_400,
                                  description="a device with no progress for this long has failed its update")
    command_ttl_s: float = Field(default=600.0, ge=1, le=86_400, description="life of one update command")


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    nats: NatsSettings = Field(default_factory=NatsSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    workorders: WorkOrderSettings = Field(default_factory=WorkOrderSettings)
    updates: UpdateSettings = Field(default_factory=UpdateSettings)
    homeassistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kinds: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-kind sections, each validated by its own server/<kind>/ "
        "(e.g. kinds.taxi_kiosk: the taxi provider and dispatch time limits)")

    def all_users(self) -> list[UserEntry]:
        """Users from the YAML plus those in ``auth.users_file``."""
        users = list(self.auth.users)
        if self.auth.users_file is not None:
            users += load_users_file(self.auth.users_file)
        names = [u.name for u in users]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SettingsError(f"auth: user(s) defined twice: {', '.join(dup)}")
        return users


# ------------------------------------------------------------------------------------------- loading
def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names allowed at ``loc`` (the parent of an unknown key)."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)) or part not in cur.model_fields:
            return None
        ann = cur.model_fields[part].annotation
        args = getattr(ann, "__args__", ()) or ()
        cands = [ann, *args]
        cur = next((c for c in cands if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if cur is None:
            for c in args:  # list[UserEntry] | None
                for inner in getattr(c, "__args__", ()) or ():
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        cur = inner
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    return None


def format_errors(exc: ValidationError, model: type[BaseModel], source_of: Mapping[tuple[str, ...], str],
                  default_source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        source = source_of.get(tuple(str(p) for p in loc[:2]), default_source)
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{source}: {key}: unknown key{hint}")
            continue
        got = err.get("input")
        got_s = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        if "password" in key:
            got_s = ""
        lines.append(f"{source}: {key}: {err['msg']}{got_s}")
    return "\n".join(lines)


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """``LINLI_<SECTION>_<KEY>`` → nested dict; also returns which env var set each key."""
    out: dict[str, Any] = {}
    source: dict[tuple[str, ...], str] = {}
    sections = {name: f.annotation for name, f in Settings.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):].lower()
        if rest in Settings.model_fields and rest not in sections:
            out[rest] = value
            source[(rest,)] = f"environment variable {var}"
            continue
        section, _, key = rest.partition("_")
        model = sections.get(section)
        if model is None or key not in model.model_fields:
            continue  # other linli components read other LINLI_ variables
        ann = model.model_fields[key].annotation
        if ann is not None and "list" in str(ann):
            continue  # lists are not settable from the environment
        out.setdefault(section, {})[key] = None if value == "" else value
        source[(section, key)] = f"environment variable {var}"
    return out, source


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load the YAML at ``path`` (None: defaults), apply env overrides, then ``overrides`` (a nested dict)."""
    environ = os.environ if environ is None else environ
    source_name = str(path) if path is not None else "(defaults)"
    doc: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SettingsError(f"{p}: config file not found") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"{p}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{p}: the top level must be a mapping of sections "
                                f"({', '.join(Settings.model_fields)})")
        doc = loaded
    env, source_of = _env_overrides(environ)
    merged = deep_merge(deep_merge(doc, env), overrides or {})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(format_errors(exc, Settings, source_of, source_name)) from None


def load_users_file(path: Path) -> list[UserEntry]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except FileNotFoundError:
        raise SettingsError(f"{path}: users file not found (auth.users_file)") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, list):
        raise SettingsError(f"{path}: must be a YAML list of users (name, password_hash, role, sites)")

    class _Users(BaseModel):
        users: list[UserEntry]

    try:
        return _Users.model_validate({"users": loaded}).users
    except ValidationError as exc:
        raise SettingsError(format_errors(exc, _Users, {}, str(path)).replace(": users.", ": ")) from None



def settings_json_schema() -> dict[str, Any]:
    """JSON schema of the server's YAML (editors validate config/server.yaml with it)."""
    schema = Settings.model_json_schema()
    schema["title"] = "linli server settings"
    return schema


if __name__ == "__main__":  # python -m server.settings  → JSON schema of the server's YAML
    import json
    import sys

    json.dump(settings_json_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
