"""Commands and remote config: the glue between the contract and an app's handlers.

Commands (``…/cmd/{name}``, and the local page's test actions) go through one :class:`CommandRunner`:

1. parsed with ``contract.decode``; a malformed one is refused (with its id when it has a readable one);
2. de-duplicated by command id: a re-delivered command runs once, its saved result is sent again
   (the results of the last ``keep`` commands are kept in SQLite, so this holds across restarts);
3. refused when expired (``expires``), unknown, or when its args do not fit the command's model;
4. run by the app's handler — one command at a time. A handler refuses with ``CommandRefused`` (safety checks
   live in the app); any other exception makes a failed result and the agent keeps running;
5. answered with a ``CommandResult`` on ``…/cmd_result`` (through the outbox), written to the audit log, and
   emitted as an event ``cmd.executed`` / ``cmd.refused`` / ``cmd.failed`` with by, name and the result.

Desired config (``…/config/desired``, retained) is handled by :class:`DesiredConfig`: overrides are merged onto
the file's ``app:`` section, validated with the app's config model, applied with ``app.apply_config()`` — or
refused with the error while the old config stays — and answered with a retained ``ConfigReported``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from edge.apps.base import App, CommandCall, CommandRefused, CommandSpec, Emit
from linli.contract import (
    CMD_NAME_RE,
    ULID_RE,
    Channel,
    Command,
    CommandResult,
    ConfigDesired,
    ConfigReported,
    ContractError,
    DeviceRef,
    EventData,
    decode,
    utcnow,
)
from linli.contract import runtime as rt
from linli.merge import deep_merge

from .config import ConfigError, LoadedConfig, format_validation_error, validate_app_section
from .metrics import Stats
from .outbox import PRIORITY_EVENT, Outbox
from .store import open_db

_current: contextvars.ContextVar[CommandCall | None] = contextvars.ContextVar("linli_command", default=None)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    id     TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    result BLOB NOT NULL,
    ts     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_ts ON commands (ts);
"""


def current_command() -> CommandCall | None:
    """The command being handled by the calling thread, if any."""
    return _current.get()


def _args_error(exc: ValidationError, model: type[BaseModel]) -> str:
    return format_validation_error(exc, model, "bad args")


class CommandRunner:
    """Runs commands of one agent against the app's registry (``name → CommandSpec``)."""

    def __init__(self, ref: DeviceRef, specs: Mapping[str, CommandSpec], db_path: Path, outbox: Outbox,
                 emit: Emit, stats: Stats, audit: logging.Logger, keep: int = 2000,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.ref = ref
        self.specs: dict[str, CommandSpec] = {}
        self.set_specs(specs)
        self.outbox = outbox
        self.emit = emit
        self.stats = stats
        self.audit = audit
        self.keep = keep
        self.now = now
        self._run_lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._db = open_db(db_path, _SCHEMA, synchronous="NORMAL")

    def set_specs(self, specs: Mapping[str, CommandSpec]) -> None:
        """The app's registry (``App.commands()``); names must be valid command names of the contract."""
        for name, spec in specs.items():
            if not CMD_NAME_RE.fullmatch(name):
                raise ValueError(f"command name {name!r} is not allowed: a-z 0-9 _ starting with a letter")
            if not isinstance(spec, CommandSpec):
                raise TypeError(f"command {name!r}: expected a CommandSpec, got {type(spec).__name__}")
        self.specs = dict(specs)

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    # ------------------------------------------------------------------ dedupe store
    def saved_result(self, cmd_id: str) -> CommandResult | None:
        with self._db_lock:
            row = self._db.execute("SELECT result FROM commands WHERE id=?", (cmd_id,)).fetchone()
        if row is None:
            return None
        return CommandResult.model_validate_json(row[0])

    def _save(self, res: CommandResult) -> None:
        with self._db_lock:
            self._db.execute("INSERT OR REPLACE INTO commands(id, name, result, ts) VALUES (?,?,?,?)",
                             (res.id, res.name, res.encode(), res.ts.timestamp()))
            self._db.execute("DELETE FROM commands WHERE id IN (SELECT id FROM commands ORDER BY ts DESC "
                             "LIMIT -1 OFFSET ?)", (self.keep,))

    # ------------------------------------------------------------------ entry points
    def handle_mqtt(self, name: str, payload: bytes) -> CommandResult | None:
        """A message on ``…/cmd/{name}``. Returns the result sent (None when there was no id to answer to)."""
        try:
            cmd = decode(Channel.cmd, payload)
        except ContractError as exc:
            self.stats.inc("messages_malformed")
            cmd_id = _readable_id(payload)
            error = f"malformed command: {exc}"
            self.audit.warning("cmd %s id=%s refused: %s", name, cmd_id or "-", error)
            self._record_event(rt.CmdRefused, id=cmd_id, name=name, by=None, origin="mqtt", ok=False,
                               error=error[:2000])
            self.stats.inc("commands", "refused")
            if cmd_id is None:
                return None
            res = CommandResult(id=cmd_id, name=name, ok=False, error=error[:2000])
            self._publish(res)
            return res
        assert isinstance(cmd, Command)
        return self.execute(name, cmd, origin="mqtt")

    def run_local(self, name: str, args: Mapping[str, Any], by: str) -> CommandResult:
        """A test action from the local page: the same path as a remote command (audited as ``by``)."""
        cmd = Command.make(by=by[:64], args=dict(args), ttl_s=30)
        spec = self.specs.get(name)
        if spec is not None and not spec.local:
            return self._finish(cmd, name, "local", False, None,
                                f"command {name!r} is not offered on the local page", "refused")
        return self.execute(name, cmd, origin="local")

    def execute(self, name: str, cmd: Command, origin: str = "mqtt") -> CommandResult:
        saved = self.saved_result(cmd.id)
        if saved is not None:
            self.audit.info("cmd %s id=%s by=%s duplicate: result sent again", name, cmd.id, cmd.by)
            self.stats.inc("commands", "duplicate")
            if origin == "mqtt":
                self._publish(saved)
            return saved
        with self._run_lock:
            return self._execute(name, cmd, origin)

    def _execute(self, name: str, cmd: Command, origin: str) -> CommandResult:
        now = self.now()
        if cmd.expired(now):
            return self._finish(cmd, name, origin, False, None,
                                f"expired at {cmd.expires.isoformat()} (now {now.isoformat(timespec='seconds')})",
                                "refused")
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self.specs)) or "none"
            return self._finish(cmd, name, origin, False, None, f"unknown command {name!r} (known: {known})",
                                "refused")
        args: Any = dict(cmd.args)
        if spec.args_model is not None:
            try:
                args = spec.args_model.model_validate(cmd.args)
            except ValidationError as exc:
                return self._finish(cmd, name, origin, False, None, _args_error(exc, spec.args_model), "refused")
        token = _current.set(CommandCall(cmd.id, name, cmd.by, "local" if origin == "local" else "mqtt"))
        try:
            out = spec.handler(args)
        except CommandRefused as exc:
            return self._finish(cmd, name, origin, False, None, str(exc) or "refused", "refused")
        except Exception as exc:
            logging.getLogger(__name__).exception("command %s (id %s) failed", name, cmd.id)
            return self._finish(cmd, name, origin, False, None, f"{type(exc).__name__}: {exc}", "failed")
        finally:
            _current.reset(token)
        result = dict(out) if out else {}
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            return self._finish(cmd, name, origin, False, None, f"handler returned a non-JSON result: {exc}",
                                "failed")
        return self._finish(cmd, name, origin, True, result, None, "ok")

    # ------------------------------------------------------------------ outcome
    def _finish(self, cmd: Command, name: str, origin: str, ok: bool, result: dict[str, Any] | None,
                error: str | None, outcome: str) -> CommandResult:
        res = CommandResult(id=cmd.id, name=name, ok=ok, result=result, error=error[:2000] if error else None)
        self._save(res)
        if origin == "mqtt":
            self._publish(res)
        self.stats.inc("commands", outcome)
        line = "cmd %s id=%s by=%s origin=%s %s%s"
        detail = f": {error}" if error else f" -> {json.dumps(result, ensure_ascii=False)[:300]}"
        (self.audit.info if ok else self.audit.warning)(line, name, cmd.id, cmd.by, origin, outcome, detail)
        model = rt.cmd_outcome_model(outcome)
        self._record_event(model, id=cmd.id, name=name, by=cmd.by, origin=origin, ok=ok,
                           result=result if ok else None, error=None if ok else (error or "")[:2000])
        return res

    def _record_event(self, model: type[EventData], **fields: Any) -> None:
        try:
            self.emit(model(**fields))
        except Exception:
            logging.getLogger(__name__).exception("could not emit %s", model.EVENT.type)

    def _publish(self, res: CommandResult) -> None:
        self.outbox.enqueue(self.ref.cmd_result_topic, res.encode(), qos=1, priority=PRIORITY_EVENT)


def _readable_id(payload: bytes) -> str | None:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and ULID_RE.fullmatch(cid) else None


# ---------------------------------------------------------------------------------------------- config
class DesiredConfig:
    """Remote overrides of the ``app:`` section; the applied ones are kept in ``<data_dir>/desired.json``."""

    def __init__(self, loaded: LoadedConfig, ref: DeviceRef, outbox: Outbox, state_path: Path,
                 emit: Emit, logger: logging.Logger) -> None:
        self.loaded = loaded
        self.ref = ref
        self.outbox = outbox
        self.state_path = state_path
        self.emit = emit
        self.log = logger
        self.applied_version = 0
        self.applied_overrides: dict[str, Any] = {}
        self.last_seen = 0
        self.last_error: str | None = None
        self.app: App | None = None
        self._lock = threading.Lock()
        self._last: tuple[bytes, ConfigReported] | None = None

    @property
    def source(self) -> str:
        return f"{self.loaded.source} + remote config"

    def validate(self, overrides: Mapping[str, Any]) -> BaseModel:
        merged = deep_merge(self.loaded.agent.app, overrides)
        return validate_app_section(self.loaded.app_class, merged, self.loaded.agent.hal, self.source)

    def initial(self) -> BaseModel:
        """The app config to start with: the file's, plus the overrides applied before a restart if still valid."""
        try:
            doc = json.loads(self.state_path.read_text(encoding="utf-8"))
            version, overrides = int(doc["version"]), dict(doc["overrides"])
        except FileNotFoundError:
            return self.loaded.app_cfg
        except (ValueError, KeyError, TypeError) as exc:
            self.log.warning("%s is unreadable (%s); starting with the file config", self.state_path, exc)
            return self.loaded.app_cfg
        try:
            cfg = self.validate(overrides)
        except ConfigError as exc:
            self.log.warning("remote config v%d no longer fits the file config (%s); not applied", version, exc)
            return self.loaded.app_cfg
        self.applied_version, self.applied_overrides, self.last_seen = version, overrides, version
        self.log.info("starting with remote config v%d", version)
        return cfg

    def handle(self, payload: bytes) -> ConfigReported:
        """A message on ``…/config/desired``. The same message again (it is retained, so it comes with every
        reconnect) is answered with the same report, without applying or announcing it again."""
        with self._lock:
            if self._last is not None and payload == self._last[0]:
                rep = self._last[1]
                self.outbox.enqueue(self.ref.config_reported_topic, rep.encode(), qos=1, priority=PRIORITY_EVENT,
                                    retain=True)
                return rep
            rep = self._handle(payload)
            self._last = (payload, rep)
            return rep

    def _handle(self, payload: bytes) -> ConfigReported:
        if not payload:  # the retained desired config was cleared: back to the file config
            desired = None
            version, overrides, by = 0, {}, "server"
        else:
            try:
                d = decode(Channel.config_desired, payload)
            except ContractError as exc:
                return self._report(self.last_seen, False, f"malformed desired config: {exc}", None, "?")
            assert isinstance(d, ConfigDesired)
            desired = d
            version, overrides, by = d.version, d.overrides, d.by
        self.last_seen = version
        if version == self.applied_version and overrides == self.applied_overrides:
            return self._report(version, True, None, None, by, quiet=True)
        try:
            cfg = self.validate(overrides)
        except ConfigError as exc:
            return self._report(version, False, str(exc), None, by)
        assert self.app is not None
        try:
            self.app.apply_config(cfg)
        except Exception as exc:
            return self._report(version, False, f"the app refused it: {type(exc).__name__}: {exc}", None, by)
        self.applied_version, self.applied_overrides = version, dict(overrides)
        self._persist()
        return self._report(version, True, None, desired, by)

    def _persist(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": self.applied_version, "overrides": self.applied_overrides}),
                       encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _report(self, version: int, ok: bool, error: str | None, desired: ConfigDesired | None, by: str,
                quiet: bool = False) -> ConfigReported:
        self.last_error = error
        rep = ConfigReported(version=version, ok=ok, applied_version=self.applied_version,
                             error=error[:4000] if error else None)
        self.outbox.enqueue(self.ref.config_reported_topic, rep.encode(), qos=1, priority=PRIORITY_EVENT,
                            retain=True)
        if quiet:
            return rep
        if ok:
            self.log.info("remote config v%d applied (by %s)", version, by)
            self.emit(rt.ConfigApplied(version=version, by=by))
        else:
            self.log.warning("remote config v%d refused (by %s): %s", version, by, error)
            self.emit(rt.ConfigRefused(version=version, by=by, error=error[:4000] if error else None))
        return rep

    def version_tag(self) -> str:
        return self.loaded.version + (f"+r{self.applied_version}" if self.applied_version else "")
