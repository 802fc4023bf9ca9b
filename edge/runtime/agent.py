"""One device agent: builds every part from the config and runs them.

Start: hardware (relays off) → outbox → app (with remote overrides applied before a restart) → watchdog →
MQTT link (LWT, birth) → heartbeat → inbox worker → local page.
Stop (SIGTERM, SIGINT, an exception, ``stop()``): relays safe first → ``app.stop()`` → ``stopping`` status →
brief outbox flush → clean disconnect → local page → hardware closed (relays off, pins released).
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import os
import queue
import signal
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.apps.base import App, AppContext
from edge.hal import Hal, HalError
from linli.contract import (
    Channel,
    ContractError,
    Event,
    EventData,
    Status,
    parse_topic,
    sha256_hex,
    utcnow,
)
from linli.contract import runtime as rt
from linli.provision import Credentials, read_credentials
from linli.release import running_version

from .clock import SYSTEM_CLOCK, Clock
from .commands import CommandRunner, DesiredConfig, current_command
from .config import ConfigError, LoadedConfig, effective_config
from .health import HealthSampler, Heartbeat, clean_gauges
from .link import Link
from .logbuf import RingLogHandler
from .memory import StartupRelease
from .metrics import AgentCollector, Stats, make_registry
from .outbox import Outbox, StorageReport
from .preflight import StartupError, port_problem
from .updater import Updater
from .watchdog import Watchdog

RECENT_EVENTS = 200
BLOB_CACHE = 20
INBOX_SIZE = 1000


#: Exit status asking the service manager for a restart (the updater switched slots). EX_TEMPFAIL.
EXIT_RESTART = 75


def software_version() -> str:
    """The release this process runs (a slot's ``RELEASE`` file, else the installed package's version)."""
    return running_version()


@dataclass(frozen=True)
class _Inbound:
    channel: Channel
    arg: str | None
    payload: bytes


class Agent:
    """A device agent built from a validated config (see :func:`edge.runtime.config.load_config`)."""

    def __init__(self, loaded: LoadedConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        cfg = loaded.agent
        self.loaded = loaded
        self.cfg = cfg
        self.ref = cfg.ref
        self.clock = clock
        self.software = software_version()
        self.hostname = socket.gethostname()
        self.log = logging.getLogger(f"edge.runtime.agent.{self.ref.device}")
        self.audit = logging.getLogger(f"edge.runtime.audit.{self.ref.device}")
        self.stats = Stats()
        self.stopping = threading.Event()
        self.exit_code = 0
        self.boot_time = utcnow()
        self.started_mono = time.monotonic()
        self.recent_events: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.blobs: OrderedDict[str, bytes] = OrderedDict()
        self._blob_lock = threading.Lock()
        self.logbuf = RingLogHandler()
        self._audit_file: logging.Handler | None = None
        self._started = False
        self._stopped = False
        self._exit = threading.Event()
        self._inbox: queue.Queue[_Inbound | None] = queue.Queue(INBOX_SIZE)

        creds = self._credentials()
        self.page_auth = None
        if cfg.local_page.enabled:
            from .localpage.auth import PasswordCheck

            try:
                self.page_auth = PasswordCheck.from_config(cfg.local_page)
            except ConfigError as exc:
                raise ConfigError(f"{loaded.source}: {exc}") from None

        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(cfg.outbox_path, cfg.outbox.max_messages, cfg.outbox.replay_rate_per_s,
                             cfg.outbox.max_inflight, memory_max=cfg.outbox.memory_max,
                             ack_timeout_s=cfg.outbox.ack_timeout_s)
        self.outbox.on_storage_report(self._on_storage_report)
        self.hal: Hal | None = None
        self.runner: CommandRunner | None = None
        try:
            try:
                self.hal = Hal(cfg.hal)
            except HalError as exc:
                raise ConfigError(f"{loaded.source}: hal: {exc}") from None
            self.watchdog = Watchdog(cfg.watchdog.timeout_s, self._on_watchdog_trip, self._on_watchdog_recover,
                                     keep_safe=self.hal.all_relays_safe, enabled=cfg.watchdog.enabled,
                                     systemd=cfg.watchdog.systemd)
            self.desired = DesiredConfig(loaded, self.ref, self.outbox, cfg.data_dir / "desired.json",
                                         self.emit, self.log)
            app_cfg = self.desired.initial()
            app_dir = cfg.data_dir / "app"
            app_dir.mkdir(parents=True, exist_ok=True)
            self.ctx = AppContext(ref=self.ref, hal=self.hal, emit=self.emit,
                                  logger=logging.getLogger(f"edge.apps.{self.ref.kind.value}.{self.ref.device}"),
                                  data_dir=app_dir, watchdog=self.watchdog, clock=clock, stopping=self.stopping,
                                  current_command=current_command, link_up=self._link_connected)
            self.app: App = loaded.app_class(self.ctx, app_cfg)
            self.desired.app = self.app
            self.runner = CommandRunner(self.ref, {}, cfg.data_dir / "commands.sqlite", self.outbox,
                                        self.emit, self.stats, self.audit)
            try:
                self.link = Link(self.ref, cfg.mqtt, creds, self.outbox, self.stats, self.status,
                                 self._on_message, software=self.software, logger=self.log)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ConfigError(f"{loaded.source}: mqtt.tls.ca_file: {exc}") from None
            self.updater = Updater(cfg.update, cfg.data_dir, self.emit,
                                   healthy=lambda: self._link_connected() and not self.watchdog.tripped,
                                   request_restart=self._restart_for_update, stopping=self.stopping)
            self.sampler = HealthSampler(cfg.data_dir, self.outbox, self.started_mono)
            self.heartbeat = Heartbeat(self.ref, cfg.telemetry_interval_s, self.sampler, self.outbox,
                                       self._gauges, self.stopping)
            labels = {"site": self.ref.site, "kind": self.ref.kind.value, "device": self.ref.device}
            self.registry = make_registry(AgentCollector(self.stats, self.figures, self._gauges, labels,
                                                          histograms=self.app.histograms))
            self.page = None
            if cfg.local_page.enabled:
                from .localpage import LocalPage

                self.page = LocalPage(self, cfg.local_page)
        except BaseException:
            self._close_parts()
            raise
        self._worker = threading.Thread(target=self._work, name="inbox", daemon=True)
        self.memory = StartupRelease(cfg.memory.release_startup_pages_after_s, self.stopping)

    # ------------------------------------------------------------------ construction helpers
    def _credentials(self) -> Credentials:
        m = self.cfg.mqtt
        if m.password_env is not None:
            pw = os.environ.get(m.password_env)
            if not pw:
                raise ConfigError(f"{self.loaded.source}: mqtt.password_env: environment variable "
                                  f"{m.password_env} is not set")
            return Credentials(self.ref.mqtt_username, pw)
        assert m.password_file is not None
        try:
            return read_credentials(m.password_file)
        except ValueError as exc:
            raise ConfigError(f"{self.loaded.source}: mqtt.password_file: {exc}") from None

    def _link_connected(self) -> bool:
        link = getattr(self, "link", None)  # the app may ask before the link is built
        return bool(link is not None and link.connected)

    def _close_parts(self) -> None:
        if self.hal is not None:
            self.hal.close()
        if self.runner is not None:
            self.runner.close()
        self.outbox.close()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        root = logging.getLogger()
        root.addHandler(self.logbuf)
        edge_logger = logging.getLogger("edge")
        if edge_logger.level == logging.NOTSET:
            edge_logger.setLevel(self.cfg.log_level)
        self._audit_file = logging.handlers.RotatingFileHandler(
            self.cfg.data_dir / "audit.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        self._audit_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.audit.addHandler(self._audit_file)
        self.audit.setLevel(logging.INFO)

        self.app.start()
        assert self.runner is not None
        self.runner.set_specs({**self.app.commands(), **self.updater.commands()})
        self.watchdog.start()
        self.link.start()
        self.heartbeat.start()
        self._worker.start()
        if self.page is not None:
            try:
                self.page.start()
            except OSError as exc:  # taken since the preflight check: the device does not run on without it
                raise StartupError(port_problem(self.cfg.local_page.host, self.cfg.local_page.port,
                                                "local_page.port") or f"local_page: not started: {exc}") from None
        self.updater.on_start()
        self.emit(rt.AgentStarted(software=self.software, config_version=self.desired.version_tag(),
                                  hostname=self.hostname))
        self._report_startup_loss()
        self.memory.start()
        self.log.info("agent %s started (%s, config %s)", self.ref.key, self.software, self.desired.version_tag())

    def stop(self, flush_s: float = 2.0) -> None:
        """Relays safe first, then the app, the ``stopping`` status, a brief flush, and everything else."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        assert self.hal is not None
        self.hal.all_relays_safe()
        if self._started:
            try:
                self.app.stop()
            except Exception:
                self.log.exception("app.stop() failed")
            self.hal.all_relays_safe()
            self.watchdog.stop()
            try:
                self._inbox.put_nowait(None)
            except queue.Full:
                pass
            if self._worker.is_alive():
                self._worker.join(2.0)
            self.heartbeat.join(2.0)
            self.link.stop(flush_s)
            if self.page is not None:
                self.page.stop()
        self._close_parts()
        logging.getLogger().removeHandler(self.logbuf)
        if self._audit_file is not None:
            self.audit.removeHandler(self._audit_file)
            self._audit_file.close()
        self.log.info("agent %s stopped", self.ref.key)

    def request_exit(self) -> None:
        self._exit.set()

    def _restart_for_update(self) -> None:
        """The updater switched slots: exit so that systemd (``Restart=always``) starts the other release."""
        self.log.warning("restarting into %s", os.readlink(self.cfg.update.prefix / "current"))
        self.exit_code = EXIT_RESTART
        self._exit.set()

    def run_forever(self, on_started: Callable[[], None] | None = None) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`request_exit`); the relays are made safe on every way out.

        ``on_started`` runs once the agent is up (``linli agent --sim`` starts the simulated world there)."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda s, f: self._on_signal(s))
        old_hook = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            self.log.critical("thread %s crashed: %s: %s", getattr(args.thread, "name", "?"),
                              args.exc_type.__name__, args.exc_value)
            if self.hal is not None:
                self.hal.all_relays_safe()
            old_hook(args)

        threading.excepthook = hook
        try:
            self.start()
            if on_started is not None:
                on_started()
            while not self._exit.wait(0.5):
                pass
        finally:
            try:
                self.stop()
            finally:
                threading.excepthook = old_hook
                for sig, h in previous.items():
                    signal.signal(sig, h)
        return self.exit_code

    def _on_signal(self, sig: int) -> None:
        self.log.info("signal %s: stopping", signal.Signals(sig).name)
        if self.hal is not None:
            self.hal.all_relays_safe()
        self._exit.set()

    # ------------------------------------------------------------------ events
    def emit(self, data: EventData, blobs: Sequence[bytes] = ()) -> Event:
        """Queue an event (and its blobs, published before it) for the server; keep it for the local page. Type and
        severity come from the payload model's declaration in the contract."""
        blob_list = [bytes(b) for b in blobs]
        severity = data.event_severity()
        type = data.EVENT.type
        ev = Event(type=type, data=data.to_data(), severity=severity, blobs=[sha256_hex(b) for b in blob_list])
        self.outbox.enqueue_event(self.ref, ev, blob_list)
        self.recent_events.appendleft(ev)
        if blob_list:
            with self._blob_lock:
                for sha, b in zip(ev.blobs, blob_list, strict=True):
                    self.blobs[sha] = b
                    self.blobs.move_to_end(sha)
                while len(self.blobs) > BLOB_CACHE:
                    self.blobs.popitem(last=False)
        self.stats.inc("events", severity)
        level = {"info": logging.INFO, "warning": logging.WARNING, "alarm": logging.ERROR}[severity]
        self.log.log(level, "event %s %s", type, ev.id)
        return ev

    def _on_storage_report(self, report: StorageReport) -> None:
        """The outbox writes again after a disk-full / I/O-error spell: tell the server what it cost."""
        self.emit(rt.OutboxWriteFailed(error=report.error[:200], since=dt.datetime.fromtimestamp(report.since, dt.UTC),
                                       kept=report.kept, lost=report.lost, lost_total=self.outbox.lost()))

    def _report_startup_loss(self) -> None:
        loss = self.outbox.startup_loss
        if loss is None:
            return
        self.emit(rt.OutboxCorrupt(moved_to=str(loss.moved_to)[:500], error=loss.error[:200], recovered=loss.salvaged,
                                   lost=loss.lost, lost_known=loss.lost is not None))

    def blob(self, sha: str) -> bytes | None:
        with self._blob_lock:
            return self.blobs.get(sha)

    def _on_watchdog_trip(self, loop: str, stale_s: float) -> None:
        assert self.hal is not None
        self.hal.all_relays_safe()
        self.emit(rt.WatchdogTripped(loop=loop, stale_s=round(stale_s, 2),
                                     timeout_s=self.watchdog.status().get(loop, {}).get("timeout_s")))

    def _on_watchdog_recover(self, loop: str) -> None:
        self.emit(rt.WatchdogRecovered(loop=loop))

    # ------------------------------------------------------------------ inbound messages
    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        """paho's network thread: only sort and queue; the inbox worker does the work."""
        try:
            parsed = parse_topic(msg.topic)
        except ContractError as exc:
            self.stats.inc("messages_malformed")
            self.log.warning("ignored a message: %s", exc)
            return
        if parsed.ref != self.ref or parsed.channel not in (Channel.cmd, Channel.config_desired):
            self.stats.inc("messages_malformed")
            self.log.warning("ignored a message on %s: not for this device", msg.topic)
            return
        try:
            self._inbox.put_nowait(_Inbound(parsed.channel, parsed.arg, bytes(msg.payload)))
        except queue.Full:
            self.log.error("inbox full: dropped a message on %s", msg.topic)

    def _work(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            try:
                if item.channel is Channel.cmd:
                    assert self.runner is not None and item.arg is not None
                    self.runner.handle_mqtt(item.arg, item.payload)
                else:
                    before = self.desired.version_tag()
                    self.desired.handle(item.payload)
                    if self.desired.version_tag() != before:
                        self.link.publish_status("online")
            except Exception:
                self.log.exception("handling a %s message failed", item.channel.value)

    # ------------------------------------------------------------------ views (status, page, metrics)
    def status(self, state: str = "online") -> Status:
        try:
            model_version = self.app.model_version()
        except Exception:
            model_version = None
        return Status(state=state, kind=self.ref.kind, boot_time=self.boot_time,  # type: ignore[arg-type]
                      software=self.software, model_version=model_version,
                      config_version=self.desired.version_tag(), hostname=self.hostname)

    def app_state(self) -> str:
        try:
            return str(self.app.state())
        except Exception:
            return "error"

    def _gauges(self) -> dict[str, Any]:
        return clean_gauges({**self.app.gauges(), "outbox_lost": self.outbox.lost(),
                             "outbox_held": self.outbox.held()})

    def figures(self) -> dict[str, Any]:
        """The current figures (health + link + outbox), for the page, the API and /metrics."""
        h = self.sampler.last or self.sampler.sample()
        return {
            **h.model_dump(),
            "uptime_s": round(self.sampler.uptime_s(), 1),
            "outbox_depth": self.outbox.depth(),
            "outbox_dropped": self.outbox.dropped(),
            "outbox_over_capacity": self.outbox.over_capacity(),
            "outbox_inflight": self.outbox.inflight(),
            "outbox_lost": self.outbox.lost(),
            "outbox_held": self.outbox.held(),
            "outbox_write_error": self.outbox.failing,
            "outbox_oldest_age_s": self.outbox.oldest_age_s(),
            "mqtt_connected": self.link.connected,
            "watchdog_tripped": self.watchdog.tripped,
        }

    def status_view(self) -> dict[str, Any]:
        return {
            "site": self.ref.site, "kind": self.ref.kind.value, "device": self.ref.device,
            "state": self.app_state(), "software": self.software, "config_version": self.desired.version_tag(),
            "config_file": str(self.loaded.path), "hostname": self.hostname,
            "boot_time": self.boot_time.isoformat(),
            "mqtt": {"host": self.link.brokers.current[0], "port": self.link.brokers.current[1],
                     "connected": self.link.connected, "last_error": self.link.last_error},
            "remote_config": {"applied_version": self.desired.applied_version, "last_seen": self.desired.last_seen,
                              "error": self.desired.last_error},
            "watchdog": {"tripped": self.watchdog.tripped, "loops": self.watchdog.status()},
            "figures": self.figures(),
            "gauges": self._gauges(),
        }

    def effective_config(self) -> dict[str, Any]:
        doc = effective_config(self.loaded, self.app.cfg)
        doc["remote_overrides"] = {"version": self.desired.applied_version,
                                   "overrides": self.desired.applied_overrides}
        return doc

    @property
    def data_dir(self) -> Path:
        return self.cfg.data_dir
