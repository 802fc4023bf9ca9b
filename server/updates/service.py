"""Releases in, roll-outs out: storing signed releases, recording what devices report, advancing roll-outs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from linli import contract
from linli.contract import Kind, utcnow
from linli.contract import runtime as rt
from linli.release import Manifest, ReleaseError, verify_file
from server.audit import audit
from server.commands import send_command
from server.db.engine import Database
from server.db.models import Command, Device
from server.ingest.registry import HandlerRegistry, IngestContext
from server.updates.models import Release, Rollout, RolloutDevice
from server.updates.planner import FAILED, IN_FLIGHT, OK, plan, stage_sizes
from server.worker import LoopWorker

log = logging.getLogger(__name__)

#: Forward order of the steps a device reports; a late report never moves a device backwards.
_RANK = {"waiting": 0, "sent": 1, "downloading": 2, "verified": 3, "installed": 4}


class UpdateError(ValueError):
    """A release or roll-out request that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class UpdateConfig:
    release_dir: Path
    public_key: bytes | None
    base_url: str
    step_timeout_s: float = 900.0
    command_ttl_s: float = 600.0
    publish_wait_s: float = 2.0


# ------------------------------------------------------------------------------------------------ releases
def release_path(cfg: UpdateConfig, version: str) -> Path:
    return cfg.release_dir / f"linli-{version}.tar.gz"


def store_release(db: Database, cfg: UpdateConfig, archive: bytes, manifest: Manifest, who: str,
                  notes: str = "") -> Release:
    """Keep a release only if it is signed with the fleet's key (devices would refuse it anyway)."""
    if cfg.public_key is None:
        raise UpdateError("no update signing key is configured (updates.public_key_file)")
    cfg.release_dir.mkdir(parents=True, exist_ok=True)
    dest = release_path(cfg, manifest.version)
    tmp = dest.with_suffix(".upload")
    tmp.write_bytes(archive)
    try:
        verify_file(tmp, manifest, cfg.public_key)
    except ReleaseError as exc:
        tmp.unlink(missing_ok=True)
        raise UpdateError(str(exc)) from None
    with db.session() as s:
        if s.get(Release, manifest.version) is not None:
            tmp.unlink(missing_ok=True)
            raise UpdateError(f"release {manifest.version} exists already: releases are never replaced")
        os.replace(tmp, dest)
        row = Release(version=manifest.version, sha256=manifest.sha256, size=manifest.size,
                      signature=manifest.signature, notes=notes[:2000], created_at=utcnow(), uploaded_by=who)
        s.add(row)
        audit(s, who, "release.upload", manifest.version, sha256=manifest.sha256, size=manifest.size)
    return row


# ------------------------------------------------------------------------------------------------ roll-outs
def create_rollout(db: Database, version: str, who: str, site: str | None = None, kind: str | None = None,
                   devices: list[str] | None = None, stages: list[float | int] | None = None,
                   max_parallel: int = 5, max_failures: int = 1, sites: frozenset[str] | None = None) -> Rollout:
    """A roll-out of ``version`` to the devices of ``site``/``kind`` (optionally only ``devices``), in stages.
    ``sites``: the sites the requesting user may act on (None = all)."""
    stages = stages or [1, 0.1, 1.0]
    now = utcnow()
    with db.session() as s:
        if s.get(Release, version) is None:
            raise UpdateError(f"no release {version}: upload it first")
        q = select(Device).order_by(Device.site, Device.kind, Device.device)
        if site:
            q = q.where(Device.site == site)
        if kind:
            q = q.where(Device.kind == Kind(kind).value)
        if devices:
            q = q.where(Device.device.in_(devices))
        targets = [d for d in s.scalars(q) if sites is None or d.site in sites]
        if not targets:
            raise UpdateError("no device matches this roll-out")
        stage_sizes(stages, len(targets))  # validates the stages
        ro = Rollout(version=version, site=site, kind=kind, stages=list(stages), max_parallel=max_parallel,
                     max_failures=max_failures, state="running", reason="", created_at=now, created_by=who,
                     updated_at=now)
        s.add(ro)
        s.flush()
        for pos, d in enumerate(targets):
            s.add(RolloutDevice(rollout_id=ro.id, device_id=d.id, position=pos, state="waiting", detail="",
                                updated_at=now))
        audit(s, who, "rollout.create", f"{site or '*'}/{kind or '*'}", version=version, devices=len(targets),
              stages=list(stages), max_parallel=max_parallel)
        s.flush()
        s.expunge(ro)
    return ro


def set_rollout_state(db: Database, rollout_id: int, state: str, who: str) -> Rollout:
    with db.session() as s:
        ro = s.get(Rollout, rollout_id)
        if ro is None:
            raise UpdateError(f"no roll-out {rollout_id}")
        allowed = {"paused": {"running"}, "running": {"paused", "halted"}}
        if ro.state not in allowed.get(state, set()):
            raise UpdateError(f"a {ro.state} roll-out cannot be {state}")
        if state == "running":  # resuming a halted roll-out retries its failed devices
            for rd in s.scalars(select(RolloutDevice).where(RolloutDevice.rollout_id == rollout_id,
                                                            RolloutDevice.state.in_(FAILED))):
                rd.state, rd.detail = "waiting", f"retry after: {rd.detail}"[:2000]
        ro.state, ro.reason, ro.updated_at = state, "", utcnow()
        audit(s, who, f"rollout.{'resume' if state == 'running' else 'pause'}", str(rollout_id))
        s.flush()
        s.expunge(ro)
    return ro


def _record(session: Any, rd: RolloutDevice | None, state: str, detail: str = "") -> None:
    if rd is None or rd.state in OK:
        return
    if state in _RANK and (rd.state not in _RANK or _RANK[state] <= _RANK[rd.state]):
        return  # a late or repeated step report
    rd.state, rd.detail, rd.updated_at = state, detail[:2000], utcnow()


def register(registry: HandlerRegistry) -> None:
    """What devices report about an update moves their row in the roll-out (inside the ingest transaction)."""

    def on_event(ctx: IngestContext, ev: contract.Event, data: object) -> None:
        rollout = getattr(data, "rollout", None)
        if rollout is None:
            return
        rd = ctx.session.get(RolloutDevice, (rollout, ctx.device_id))
        if isinstance(data, rt.UpdateProgress):
            if data.step in _RANK:
                _record(ctx.session, rd, data.step)
        elif isinstance(data, rt.UpdateHealthy):
            _record(ctx.session, rd, "healthy", f"running {data.version}")
        elif isinstance(data, rt.UpdateRolledBack):
            _record(ctx.session, rd, "rolled_back", data.reason or "")
        elif isinstance(data, rt.UpdateFailed):
            _record(ctx.session, rd, "failed", data.reason)

    def on_result(ctx: IngestContext, res: contract.CommandResult) -> None:
        cmd = ctx.session.get(Command, res.id)
        if cmd is None or cmd.name != "update" or not cmd.by.startswith("rollout:"):
            return
        rd = ctx.session.get(RolloutDevice, (int(cmd.by.split(":", 1)[1]), ctx.device_id))
        if not res.ok:
            _record(ctx.session, rd, "failed", f"refused: {res.error or ''}")
        elif (res.result or {}).get("state") == "current":
            _record(ctx.session, rd, "current", "already running this version")

    registry.on_any_event(on_event, rt.UPDATE_EVENTS)
    for kind in Kind:
        registry.on_cmd_result(kind, on_result)


def tick(db: Database, link: Any, cfg: UpdateConfig, now: datetime | None = None) -> dict[int, str]:
    """Advance every running roll-out once; returns {rollout id: state}."""
    now = now or utcnow()
    out: dict[int, str] = {}
    with db.session() as s:
        running = [(ro.id, ro.version) for ro in s.scalars(select(Rollout).where(Rollout.state == "running"))]
    for rid, version in running:
        sends: list[Device] = []
        with db.session() as s:
            ro = s.get(Rollout, rid)
            rel = s.get(Release, version)
            assert ro is not None and rel is not None
            rows = list(s.execute(select(RolloutDevice, Device).join(Device, Device.id == RolloutDevice.device_id)
                                  .where(RolloutDevice.rollout_id == rid).order_by(RolloutDevice.position)))
            for rd, _dev in rows:
                if rd.state in IN_FLIGHT and rd.updated_at < now - timedelta(seconds=cfg.step_timeout_s):
                    rd.state, rd.detail, rd.updated_at = "timeout", f"no progress for {int(cfg.step_timeout_s)} s", now
            d = plan([rd.state for rd, _ in rows], [dev.state == "online" for _, dev in rows], ro.stages,
                     ro.max_parallel, ro.max_failures)
            if d.state != ro.state:
                ro.state, ro.reason, ro.updated_at = d.state, d.reason, now
                audit(s, "system", f"rollout.{d.state}", str(rid), reason=d.reason)
            for pos in d.send:
                rd, dev = rows[pos]
                rd.state, rd.sent_at, rd.updated_at, rd.detail = "sent", now, now, ""
                s.expunge(dev)
                sends.append(dev)
            args = {"version": rel.version, "url": f"{cfg.base_url.rstrip('/')}/releases/linli-{rel.version}.tar.gz",
                    "sha256": rel.sha256, "size": rel.size, "signature": rel.signature, "rollout": rid}
            out[rid] = d.state
        for dev in sends:
            res = send_command(db, link, dev, "update", args, cfg.command_ttl_s, by=f"rollout:{rid}",
                               publish_wait_s=cfg.publish_wait_s)
            with db.session() as s:
                row = s.get(RolloutDevice, (rid, dev.id))
                if row is not None:
                    row.command_id = res.command.id
    return out


def progress(db: Database, rollout_id: int) -> dict[str, Any]:
    with db.session() as s:
        ro = s.get(Rollout, rollout_id)
        if ro is None:
            raise UpdateError(f"no roll-out {rollout_id}")
        rows = list(s.execute(select(RolloutDevice, Device).join(Device, Device.id == RolloutDevice.device_id)
                              .where(RolloutDevice.rollout_id == rollout_id).order_by(RolloutDevice.position)))
        counts: dict[str, int] = {}
        for rd, _ in rows:
            counts[rd.state] = counts.get(rd.state, 0) + 1
        try:
            sizes = stage_sizes(list(ro.stages), len(rows))
        except (TypeError, ValueError):  # a damaged row is shown, never a failure
            sizes = []
        return {"id": ro.id, "version": ro.version, "site": ro.site, "kind": ro.kind, "state": ro.state,
                "reason": ro.reason, "stages": ro.stages, "stage_sizes": sizes,
                "max_parallel": ro.max_parallel, "max_failures": ro.max_failures, "counts": counts,
                "devices": [{"site": dev.site, "kind": dev.kind, "device": dev.device, "state": rd.state,
                             "detail": rd.detail, "updated_at": rd.updated_at} for rd, dev in rows]}


def update_config(settings: Any) -> UpdateConfig:
    u = settings.updates
    key = u.public_key_file.read_bytes() if u.public_key_file is not None else None
    base = u.base_url or f"http://{settings.http.host}:{settings.http.port}"
    return UpdateConfig(release_dir=u.release_dir or settings.storage.data_dir / "releases", public_key=key,
                        base_url=base, step_timeout_s=u.step_timeout_s, command_ttl_s=u.command_ttl_s,
                        publish_wait_s=settings.commands.publish_wait_s)


class RolloutWorker:
    """Advances running roll-outs every ``check_interval_s`` (a failing round is logged and retried)."""

    def __init__(self, db: Database, link_of: Any, cfg: UpdateConfig, interval_s: float) -> None:
        self.db, self.link_of, self.cfg, self.interval_s = db, link_of, cfg, interval_s
        self.loop = LoopWorker("rollouts", self.run_once, interval_s, first="wait")

    def run_once(self) -> None:
        tick(self.db, self.link_of(), self.cfg)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
