"""Retention (snapshots are evidence, kept N days then purged — design §7) and other periodic chores."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from linli.contract import utcnow
from server.commands import expire_commands
from server.db.engine import Database
from server.db.models import Blob
from server.db.partitions import Upkeep, upkeep
from server.storage import SnapshotStore
from server.worker import LoopWorker

log = logging.getLogger(__name__)
CHUNK = 500


@dataclass(frozen=True)
class PurgeResult:
    rows: int    # blob rows marked purged (their files deleted)
    files: int   # files deleted (including orphans: files with no live row)


def purge_snapshots(db: Database, store: SnapshotStore, days: int, now: datetime | None = None) -> PurgeResult:
    """Delete snapshot files that arrived more than ``days`` ago and mark their rows purged (rows stay, so an event
    can say its snapshot was purged). Files older than that with no live row (left by a failed write) go too."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    rows = files = 0
    while True:
        with db.session() as s:
            shas = list(s.scalars(select(Blob.sha256).where(Blob.purged_at.is_(None), Blob.received_at < cutoff)
                                  .limit(CHUNK)))
            if not shas:
                break
            for sha in shas:
                files += store.delete(sha)
            s.execute(update(Blob).where(Blob.sha256.in_(shas)).values(purged_at=now))
            rows += len(shas)
    old = [p for p in store.files() if p.stat().st_mtime < cutoff.timestamp()]
    for i in range(0, len(old), CHUNK):
        part = {p.name.removesuffix(".jpg"): p for p in old[i:i + CHUNK]}
        with db.session() as s:
            live = set(s.scalars(select(Blob.sha256).where(Blob.sha256.in_(list(part)), Blob.purged_at.is_(None))))
        for sha, p in part.items():
            if sha not in live:
                p.unlink(missing_ok=True)
                files += 1
    if rows or files:
        log.info("retention: purged %d snapshot(s) older than %d days (%d file(s) deleted)", rows, days, files)
    return PurgeResult(rows, files)


class Maintenance:
    """Runs the purge and command expiry every ``interval_s`` in a :class:`~server.worker.LoopWorker` (errors are
    logged, never fatal)."""

    def __init__(self, db: Database, store: SnapshotStore, days: int, interval_s: float) -> None:
        self.db = db
        self.store = store
        self.days = days
        self.interval_s = interval_s
        self.loop = LoopWorker("linli-maintenance", self.run_once, interval_s, join_s=10)

    @property
    def runs(self) -> int:
        return self.loop.runs

    def run_once(self) -> None:
        purge_snapshots(self.db, self.store, self.days)
        n = expire_commands(self.db)
        if n:
            log.info("%d command(s) expired without a result", n)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()


class PartitionKeeper:
    """PostgreSQL: monthly partitions of events and telemetry created ``ahead_months`` ahead, whole months older
    than the retention dropped (``server.db.partitions.upkeep``), every ``interval_s`` in a LoopWorker."""

    def __init__(self, db: Database, events_days: int, telemetry_days: int, ahead_months: int,
                 interval_s: float) -> None:
        self.db = db
        self.retention = {"events": events_days, "telemetry": telemetry_days}
        self.ahead_months = ahead_months
        self.last: Upkeep | None = None
        self.loop = LoopWorker("linli-partitions", self.run_once, interval_s, join_s=30)

    def run_once(self, now: datetime | None = None) -> Upkeep | None:
        self.last = upkeep(self.db.engine, self.retention, self.ahead_months, now)
        return self.last

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
