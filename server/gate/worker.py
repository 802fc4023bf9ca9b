"""The gate's background worker, list sync: brings every online gate to its site's list version.

For each online gate whose reported version differs from its site's, it sends ``lists_sync`` with the next delta
(at most ``max_entries_per_command`` entries) unless one is already on its way (sent less than ``sync_retry_s``
ago). The gate answers with the version it now has (also reported in its telemetry and a ``gate.lists.applied``
event), and the loop goes on until they agree. ``kick()`` (after an edit in the API) runs it at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from linli.contract import Kind, utcnow
from server.commands import send_command
from server.worker import LoopWorker

from . import lists
from .models import GateDeviceSync
from .settings import GateServerSettings, gate_settings

if TYPE_CHECKING:
    from server.app import Server
    from server.db.models import Device

log = logging.getLogger(__name__)


class GateSync:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.cfg: GateServerSettings = gate_settings(srv.settings.kinds)
        self._failed_gates = 0
        self.loop = LoopWorker("gate-sync", self.run_once, self.cfg.sync_interval_s)
        self.sent = 0

    @property
    def errors(self) -> int:
        return self.loop.errors + self._failed_gates

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def kick(self) -> None:
        self.loop.wake()

    def run_once(self) -> int:
        """One pass over the online gates; returns how many sync commands were sent."""
        from server.db.models import Device

        sent = 0
        with self.srv.db.session() as s:
            gates = list(s.scalars(select(Device).where(Device.kind == Kind.gate.value, Device.state == "online")))
            s.expunge_all()
        for dev in gates:
            try:
                sent += self._sync_one(dev)
            except Exception:
                self._failed_gates += 1
                log.exception("gate list sync of %s failed", dev.key)
        self.sent += sent
        return sent

    def _have(self, dev: Device, row: GateDeviceSync | None) -> int | None:
        if row is not None and row.reported_version is not None:
            return row.reported_version
        v = (dev.gauges or {}).get("lists_version")
        return v if isinstance(v, int) else None

    def _sync_one(self, dev: Device) -> int:
        now = utcnow()
        with self.srv.db.session() as s:
            row = s.get(GateDeviceSync, dev.id)
            have = self._have(dev, row)
            if have is None:
                return 0  # not heard from it yet: its telemetry will say
            if row is not None and row.sent_at is not None and row.sent_base == have \
                    and now - row.sent_at < timedelta(seconds=self.cfg.sync_retry_s):
                return 0  # one is on its way
            d = lists.delta(s, dev.site, have, self.cfg.max_entries_per_command)
            if d is None:
                return 0
            args: dict[str, Any] = d.args.model_dump(mode="json")
        res = send_command(self.srv.db, self.srv.link, dev, "lists_sync", args, self.cfg.command_ttl_s,
                           "server:gate-sync", self.srv.settings.commands.publish_wait_s)
        with self.srv.db.session() as s:
            row = s.get(GateDeviceSync, dev.id)
            if row is None:
                row = GateDeviceSync(device_id=dev.id)
                s.add(row)
            row.sent_base, row.sent_version, row.sent_at, row.cmd_id = have, d.args.version, now, res.command.id
        log.info("lists_sync to %s: %d → %d (%d entries, %d deleted)%s", dev.key, d.args.base_version,
                 d.args.version, len(d.args.upserts), len(d.args.deletes), "" if res.published else " (not published)")
        return 1


def make_worker(srv: Server) -> GateSync:
    return GateSync(srv)


def kick(srv: Server) -> None:
    """Run the list sync now (after an edit), where this server runs it."""
    worker = srv.kind_services.get(Kind.gate.value)
    if isinstance(worker, GateSync):
        worker.kick()
