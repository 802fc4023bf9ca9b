"""The server application: ``create_app(settings) -> FastAPI``.

``Server`` holds the parts (database, snapshot store, broker link, ingest, maintenance, auth, metrics); the app's
lifespan starts them (migrations first) and stops them. ``app.state.linli`` is the ``Server``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from starlette.concurrency import run_in_threadpool

import server
from linli import contract
from linli.websec import LoginGuard
from server.alerts.service import register as register_alerts
from server.api import api_router
from server.commands import register_config_resend
from server.dashboards import DashboardRegistry
from server.dashboards.fleet import register as register_fleet_panels
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Device
from server.homeassistant.bridge import HomeAssistantBridge
from server.ingest.jetstream import JetStreamLink
from server.ingest.link import MqttLink
from server.ingest.registry import HandlerRegistry
from server.ingest.service import Ingest
from server.ingest.stats import IngestStats
from server.kinds import ServerKinds, Worker
from server.leases import JobLease, process_holder
from server.payments.service import Payments
from server.retention import Maintenance, PartitionKeeper
from server.security import dependencies as security_dependencies
from server.security import install as install_security
from server.settings import Settings
from server.storage import SnapshotStore
from server.updates.service import RolloutWorker, update_config
from server.updates.service import register as register_updates
from server.users.directory import UserDirectory
from server.users.sessions import SessionStore
from server.web import router as web_router
from server.web import static_files, use_kind_templates
from server.web.apidocs import install_docs
from server.web.ops import ops_routers
from server.worker import LoopWorker
from server.workorders.service import Checker
from server.workorders.service import register as register_workorders

log = logging.getLogger(__name__)


class _DeviceCollector(Collector):
    """``linli_devices{state}`` counted from the database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("linli_devices", "devices by state", labels=["state"])
        try:
            with self.db.session() as s:
                for state, n in s.execute(select(Device.state, func.count()).group_by(Device.state)):
                    g.add_metric([state], n)
        except Exception:  # the database may be away; the scrape still works
            log.debug("device collector: database not reachable", exc_info=True)
        yield g


class _ScaleCollector(Collector):
    """PostgreSQL at scale, at scrape time: how far the monthly partitions reach ahead
    (``linli_db_partition_ahead_seconds``; under a month: the upkeep job is not running), the age of the oldest
    partition (retention working),
    rows in the default partition (device clocks far off), and each background job's lease: held by this process,
    and seconds since any process last ran it."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from server.db.partitions import coverage

        ahead = GaugeMetricFamily("linli_db_partition_ahead_seconds", "how far the monthly partitions reach past "
                                  "now", labels=["table"])
        oldest = GaugeMetricFamily("linli_db_partition_oldest_age_seconds", "age of the oldest monthly partition",
                                   labels=["table"])
        default = GaugeMetricFamily("linli_db_partition_default_rows",
                                    "rows in the default partition (timestamps outside every month)", labels=["table"])
        held = GaugeMetricFamily("linli_job_lease_held", "1 where this server process holds the job's lease",
                                 labels=["job"])
        age = GaugeMetricFamily("linli_job_last_run_age_seconds", "seconds since any server process last ran the job",
                                labels=["job"])
        try:
            cov = coverage(self.srv.db.engine)
            if cov is not None:
                for table in cov[0]:
                    ahead.add_metric([table], cov[0][table] * 86400)
                    oldest.add_metric([table], cov[1][table] * 86400)
                    default.add_metric([table], cov[2][table])
            for loop in self.srv.loops():
                if loop.lease is not None:
                    held.add_metric([loop.name], int(loop.lease.held))
            if self.srv.db.dialect == "postgresql":
                with self.srv.db.engine.connect() as conn:
                    for name, secs in conn.execute(text(
                            "SELECT name, extract(epoch FROM now() - last_run_at) FROM job_leases "
                            "WHERE last_run_at IS NOT NULL")):
                        age.add_metric([name], float(secs))
        except Exception:  # the database may be away; the scrape still works
            log.debug("scale collector: database not reachable", exc_info=True)
        yield from (ahead, oldest, default, held, age)


def resident_purposes() -> dict[str, Any]:
    """What residents can pay for online (see server.payments): charging and the parking fee at the exit."""
    from server.charger.resident import ChargePurpose
    from server.gate.resident import ParkingPurpose

    return {"charge": ChargePurpose(), "parking": ParkingPurpose()}


def resident_routers() -> list[Any]:
    """Residents' pages and the payment provider's endpoints (public by design; see their PUBLIC_BY_DESIGN)."""
    from server.payments import api as pay_api
    from server.payments import sim as pay_sim
    from server.resident import pages as resident_pages

    return [pay_api.router, pay_sim.router, resident_pages.router]


def public_by_design() -> dict[tuple[str, str], str]:
    """Residents' and payment routes that anyone may use without an account, with why that is safe (a signed QR
    token, an unguessable order key, the provider's signature); part of ``server.security.scope.PUBLIC``."""
    from server.payments.public import PUBLIC_BY_DESIGN

    return dict(PUBLIC_BY_DESIGN)


class Server:
    def __init__(self, settings: Settings, registry: HandlerRegistry | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database)
        self.snapshots = SnapshotStore(settings.storage.snapshots)
        self.metrics = CollectorRegistry()
        self.metrics.register(_DeviceCollector(self.db))
        self.stats = IngestStats(self.metrics, settings.ingest.rejects_kept)
        self.kinds = ServerKinds.load()
        self.handlers = registry if registry is not None else HandlerRegistry()
        if registry is None:
            self.kinds.register_handlers(self.handlers)
        #: each kind's background worker, for the kinds whose ingest handlers are in use
        handled = {name.split(".")[1] for name in self.handlers.loaded}
        self.kind_services: dict[str, Worker] = self.kinds.make_workers(self, only=[
            s.kind for s in self.kinds if s.kind.value in handled])
        users = settings.all_users()
        if not users:
            log.warning("no users configured (auth.users / auth.users_file): the API and pages will refuse "
                        "everyone. Add one with `python -m server.auth add-user NAME --role admin`.")
        a = settings.auth
        self.login_guard = LoginGuard(max_hashing=a.max_concurrent_hashes, account_failures=a.login_max_failures,
                                      address_failures=a.login_max_failures_per_address, window_s=a.login_lockout_s,
                                      lock_s=a.login_lockout_s)
        # accounts in the database; settings' users bootstrap them
        self.auth = UserDirectory(self.db, users, guard=self.login_guard)
        self.sessions = SessionStore(self.db, settings.auth.session_idle_min, settings.auth.session_max_h)
        self.csrf_key = secrets.token_bytes(32)
        register_workorders(self.handlers, settings.workorders)  # device faults of every kind → work orders
        register_alerts(self.handlers)  # security and business events → guard alerts and manager notices
        register_updates(self.handlers)  # devices' update reports → roll-out progress
        register_config_resend(self.handlers, lambda: self.link)  # desired config again when a device comes back
        if settings.homeassistant.enabled:  # read-only MQTT discovery for a compound's Home Assistant
            HomeAssistantBridge(lambda: self.link).register(self.handlers)
        self.rollouts = RolloutWorker(self.db, lambda: self.link, update_config(settings),
                                      settings.updates.check_interval_s)
        self.dashboards = DashboardRegistry()
        register_fleet_panels(self.dashboards)
        self.kinds.register_dashboards(self.dashboards)
        self.checker = Checker(self.db, settings.workorders, extra=[self.sessions.purge])
        self.link: MqttLink | None = None
        self.ingest: Ingest | None = None
        self.stream: JetStreamLink | None = None  # ingest from NATS JetStream (settings.nats)
        self.maintenance = Maintenance(self.db, self.snapshots, settings.retention.snapshot_days,
                                       settings.retention.interval_s)
        self.payments = Payments(self, resident_purposes())
        r = settings.retention
        self.partitions = PartitionKeeper(self.db, r.events_days, r.telemetry_days, r.partitions_ahead_months,
                                          r.partitions_interval_s)
        self.holder = process_holder()
        self.metrics.register(_ScaleCollector(self))
        self.started = False

    def loops(self) -> list[LoopWorker]:
        """The periodic jobs that act on the shared database (each leased on PostgreSQL: ``server.leases``).
        Taxi dispatch leases each order itself; a kind's service without a ``loop`` has nothing to lease."""
        kind_loops = [getattr(svc, "loop", None) for svc in self.kind_services.values()]
        return [self.maintenance.loop, self.checker.loop, self.rollouts.loop, self.payments.loop,
                self.partitions.loop, *[lp for lp in kind_loops if isinstance(lp, LoopWorker)]]

    def start(self) -> None:
        s = self.settings
        if s.database.migrate_on_start:
            upgrade(self.db.engine)
        self.snapshots.root.mkdir(parents=True, exist_ok=True)
        if self.db.dialect == "postgresql":  # several server processes may share it: one runs each job at a time
            for loop in self.loops():
                loop.lease = JobLease(self.db, loop.name, self.holder, s.database.lease_s)
        # On NATS, ingest reads JetStream (a consumer shared by every worker) and MQTT only publishes.
        mqtt_ingest = s.ingest.enabled and not s.nats.enabled
        subs = contract.server_subscriptions(shared=s.mqtt.shared_subscription) if mqtt_ingest else []
        self.link = MqttLink(s.mqtt, subs, receive_maximum=s.ingest.receive_maximum,
                             on_state=self.stats.set_connected if mqtt_ingest else None)
        if s.ingest.enabled:
            self.ingest = Ingest(s.ingest, self.db, self.snapshots, self.stats, self.handlers)
            if s.nats.enabled:
                self.stream = JetStreamLink(s.nats, s.mqtt.credentials(), self.stats,
                                            on_state=self.stats.set_connected)
                self.ingest.attach(self.stream)
                self.stream.start()
            else:
                self.ingest.attach(self.link)
            self.ingest.start()
        self.link.start()
        if not self.link.wait_ready(s.mqtt.startup_wait_s):
            log.warning("broker %s:%s not ready after %.0f s; going on, ingest will catch up when it connects",
                        s.mqtt.host, s.mqtt.port, s.mqtt.startup_wait_s)
        for service in self.kind_services.values():
            service.start()
        self.payments.start()
        self.auth.bootstrap()
        self.maintenance.start()
        self.partitions.start()
        self.checker.start()
        self.rollouts.start()
        self.started = True
        log.info("linli server started (database %s, ingest %s)", self.db.dialect,
                 "on" if self.ingest else "off")

    def stop(self, forget_session: bool = False) -> None:
        """Stop everything. ``forget_session`` also drops the broker session (decommissioning; tests)."""
        self.payments.stop()
        for service in self.kind_services.values():
            service.stop()
        self.checker.stop()
        self.rollouts.stop()
        self.maintenance.stop()
        self.partitions.stop()
        if self.ingest is not None:  # drain first, so its acks go out before the DISCONNECT
            self.ingest.stop(self.settings.ingest.stop_timeout_s)
        if self.stream is not None:
            self.stream.stop()
        if self.link is not None:
            self.link.stop()
            if forget_session:
                self.link.forget_session()
        self.db.dispose()
        self.started = False
        log.info("linli server stopped (ingest: %s)", {k: v for k, v in self.stats.snapshot().items()
                                                       if k in ("received", "stored", "duplicate", "rejected_total")})


def create_app(settings: Settings, registry: HandlerRegistry | None = None) -> FastAPI:
    """The FastAPI app. Ingest starts and stops with the app's lifespan. ``registry``: ingest handlers to use
    instead of those the kinds declare (``server/<kind>/__init__.py``)."""
    disable_created_metrics()  # no *_created series next to every counter (Prometheus naming conventions)
    srv = Server(settings, registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        try:
            await run_in_threadpool(srv.start)
        except BaseException:
            await run_in_threadpool(srv.stop)  # do not leave a broker link or threads behind
            raise
        try:
            yield {}
        finally:
            await run_in_threadpool(srv.stop)

    app = FastAPI(title="linli server", version=server.__version__, lifespan=lifespan,
                  dependencies=security_dependencies(), docs_url=None, redoc_url=None,
                  description="Central server of linli (邻里): MQTT ingest, device registry, events, snapshots, "
                              "commands and config, dashboards, work orders, users. HTTP Basic authentication "
                              "(the pages use a login form and a session cookie).")
    app.state.linli = srv
    app.include_router(api_router)
    for r in ops_routers():  # users, dashboards, work orders: API and pages
        app.include_router(r)
    app.include_router(web_router)
    for router in srv.kinds.routers():
        app.include_router(router)
    for router in resident_routers():
        app.include_router(router)
    use_kind_templates(srv.kinds.template_dirs())
    app.mount("/static", static_files(), name="static")
    install_docs(app)  # /docs with Swagger UI served from here (offline), HTTP Basic in the schema
    install_security(app, settings)  # site scoping on every route, browser headers on every response
    return app
