"""Background jobs with several server processes on one PostgreSQL: one process at a time runs each job.

Every periodic job (``server.worker.LoopWorker``: work-order SLA checks, snapshot retention, roll-outs, payments,
the gate's list sync, the charger's settlement acks, partition upkeep) gets a :class:`JobLease` when the database is
PostgreSQL. A row in ``job_leases`` names the process holding the job until ``expires_at``; the holder renews it
every ``lease_s / 3`` seconds, and claims each run by moving ``last_run_at`` — so a run happens once per interval
however many processes there are. A process that dies stops renewing: after at most ``database.lease_s`` another
takes the job over, and runs it when ``last_run_at`` says it is due. A clean stop gives the lease up at once. On
top of that each run holds a PostgreSQL advisory lock (``pg_try_advisory_lock``), so a holder whose lease ran out
in the middle of a long run never overlaps with the next holder. SQLite (one process) needs none of this: its
workers have no lease.

Taxi dispatch is not leased as a whole: it already claims each order with a row lease (``TaxiOrder.worker`` and
``lease_until``), so several processes dispatch different orders side by side; the simulated taxi fleet is a
stand-in for the provider inside each process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from server.db.engine import Database

log = logging.getLogger(__name__)

_CLAIM = text("""
INSERT INTO job_leases (name, holder, expires_at, acquired_at, runs)
VALUES (:name, :holder, now() + make_interval(secs => :ttl), now(), 0)
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    expires_at = EXCLUDED.expires_at,
    acquired_at = CASE WHEN job_leases.holder = EXCLUDED.holder THEN job_leases.acquired_at ELSE now() END
WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_at < now()
RETURNING (last_run_at IS NULL OR last_run_at <= now() - make_interval(secs => :due_s)) AS due
""")
_RAN = text("UPDATE job_leases SET last_run_at = now(), runs = runs + 1 WHERE name = :name AND holder = :holder")
_GIVE_UP = text("UPDATE job_leases SET expires_at = now() - interval '1 second' "
                "WHERE name = :name AND holder = :holder")


def process_holder() -> str:
    """This server process's name in ``job_leases``: host, pid and a token (two servers in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:128]


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"linli-job:{name}".encode()).digest()[:8], "big", signed=True)


class JobLease:
    """The lease of one job for one process (PostgreSQL)."""

    def __init__(self, db: Database, name: str, holder: str, ttl_s: float) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl_s = ttl_s
        self.held = False

    @property
    def check_s(self) -> float:
        """How often the worker renews the lease (holder) or looks whether it is free (the others)."""
        return self.ttl_s / 3

    @contextmanager
    def turn(self, interval_s: float, force: bool = False) -> Iterator[bool]:
        """Renew or take the lease; yields True when this process holds it, the run is due (``force``: woken) and
        the job's advisory lock is free — the caller then runs the job once."""
        try:
            with self.db.engine.connect() as lock_conn:
                locked = bool(lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                                {"k": _lock_key(self.name)}).scalar())
                lock_conn.commit()
                try:
                    yield locked and self._claim(interval_s, force)
                finally:
                    if locked:
                        lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(self.name)})
                        lock_conn.commit()
        except Exception:
            self.held = False
            raise

    def _claim(self, interval_s: float, force: bool) -> bool:
        with self.db.engine.begin() as conn:
            row = conn.execute(_CLAIM, {"name": self.name, "holder": self.holder, "ttl": self.ttl_s,
                                        "due_s": interval_s * 0.95}).first()
            was, self.held = self.held, row is not None
            if was != self.held:
                log.info("%s: %s the lease of job %s", self.holder, "took" if self.held else "lost", self.name)
            if row is None or not (row[0] or force):
                return False
            conn.execute(_RAN, {"name": self.name, "holder": self.holder})
            return True

    def release(self) -> None:
        """Give the lease up (a clean stop), so that another process takes the job over at its next check."""
        if not self.held:
            return
        self.held = False
        try:
            with self.db.engine.begin() as conn:
                conn.execute(_GIVE_UP, {"name": self.name, "holder": self.holder})
        except Exception:
            log.warning("could not give up the lease of %s", self.name, exc_info=True)
