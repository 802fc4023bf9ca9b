"""Several server processes on one PostgreSQL (server.leases): each background job runs in one process at a time,
once per interval, and moves to another process when its holder dies."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from linli.testing import PostgresCluster, TestBroker, wait_for
from server.app import create_app
from server.db import Database, upgrade
from server.leases import JobLease
from server.settings import DatabaseSettings
from server.testing import make_settings, running
from server.worker import LoopWorker
from tests.edge.runtime.test_metrics_names import lint_metrics

REPO = Path(__file__).resolve().parents[2]
_n = 0


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    global _n
    _n += 1
    return pg_cluster.create_database(f"lease{_n}")


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    db = Database(DatabaseSettings(url=pg_url))
    upgrade(db.engine)
    yield db
    db.dispose()


def _lease_row(db: Database, job: str) -> tuple[str, int] | None:
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT holder, runs FROM job_leases WHERE name = :n"), {"n": job}).first()
    return (row[0], int(row[1])) if row else None


@pytest.mark.postgres
def test_two_processes_one_job_runs_once_per_interval_never_side_by_side(pg: Database) -> None:
    runs: list[tuple[str, float, float]] = []
    busy = threading.Lock()
    overlaps: list[str] = []

    def make(holder: str) -> LoopWorker:
        def step() -> None:
            if not busy.acquire(blocking=False):
                overlaps.append(holder)
                return
            try:
                t0 = time.monotonic()
                time.sleep(0.05)
                runs.append((holder, t0, time.monotonic()))
            finally:
                busy.release()

        w = LoopWorker("t-job", step, 0.4)
        w.lease = JobLease(pg, "t-job", holder, ttl_s=3.0)
        return w

    a, b = make("proc-a"), make("proc-b")
    a.start()
    b.start()
    try:
        time.sleep(4.0)
    finally:
        a.stop()
        b.stop()
    assert not overlaps
    holders = {h for h, _, _ in runs}
    assert len(holders) == 1  # one process holds the job while it lives
    starts = [t for _, t, _ in runs]
    gaps = [b_ - a_ for a_, b_ in itertools.pairwise(starts)]
    assert 7 <= len(runs) <= 11  # once per 0.4 s tick over 4 s, not once per tick per process
    assert min(gaps) >= 0.35
    row = _lease_row(pg, "t-job")
    assert row is not None and row[1] == len(runs)


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from sqlalchemy import text
    from server.db import Database
    from server.leases import JobLease
    from server.settings import DatabaseSettings
    from server.worker import LoopWorker

    db = Database(DatabaseSettings(url={url!r}))
    def step():
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO t_runs (holder) VALUES ('child')"))
    w = LoopWorker("t-dies", step, 0.2)
    w.lease = JobLease(db, "t-dies", "child", ttl_s=2.0)
    w.start()
    time.sleep(120)
""")


@pytest.mark.postgres
def test_the_lease_moves_to_another_process_when_its_holder_dies(pg: Database, pg_url: str) -> None:
    with pg.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t_runs (holder text, at timestamptz DEFAULT clock_timestamp())"))
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO), url=pg_url)],
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    mine: list[float] = []
    w = LoopWorker("t-dies", lambda: mine.append(time.monotonic()), 0.2)
    w.lease = JobLease(pg, "t-dies", "parent", ttl_s=2.0)
    try:
        wait_for(lambda: (_lease_row(pg, "t-dies") or ("", 0))[1] >= 3, 30, what="the child running the job")
        w.start()
        time.sleep(1.0)
        assert mine == []  # the child holds the job: this process waits
        child.send_signal(signal.SIGKILL)  # dies without giving the lease up
        child.wait(10)
        killed = time.monotonic()
        wait_for(lambda: mine, 10, what="the job taken over")
        took = mine[0] - killed
        assert took <= 2.0 + 2.0 / 3 + 1.0  # at most the lease plus one check (and some slack)
        assert _lease_row(pg, "t-dies")[0] == "parent"  # type: ignore[index]
        wait_for(lambda: len(mine) >= 3, 10, what="the job going on in its new process")
    finally:
        w.stop()
        if child.poll() is None:
            child.kill()
            child.wait(10)


@pytest.mark.postgres
def test_two_servers_share_their_background_jobs(pg_url: str, mqtt_broker: TestBroker, tmp_path: Path) -> None:
    """Two server apps on one PostgreSQL: every leased job has one holder; the work-order checker runs once per
    interval between them; when its holder stops, the other server takes it over."""
    def app(name: str):  # type: ignore[no-untyped-def]
        return create_app(make_settings(tmp_path / name, pg_url, mqtt_broker, database={"lease_s": 3.0},
                                        workorders={"check_interval_s": 0.3}, ingest={"enabled": False}))

    a, b = app("a"), app("b")
    with running(a) as la, running(b) as lb:
        sa, sb = la.server, lb.server
        jobs = {lp.name for lp in sa.loops()}
        assert {"linli-workorders", "linli-maintenance", "linli-partitions", "rollouts", "payments"} <= jobs
        with sa.db.engine.connect() as conn:
            wait_for(lambda: conn.execute(text("SELECT count(*) FROM job_leases")).scalar() >= len(jobs), 15,
                     what="every job leased")
        for x, y in zip(sa.loops(), sb.loops(), strict=True):  # each job in exactly one of the two servers
            assert x.name == y.name and x.lease and y.lease and int(x.lease.held) + int(y.lease.held) == 1, x.name
        first = _lease_row(sa.db, "linli-workorders")
        assert first is not None
        t0 = time.monotonic()
        time.sleep(3.0)
        row = _lease_row(sa.db, "linli-workorders")
        assert row is not None
        ran = row[1] - first[1]
        assert 5 <= ran <= (time.monotonic() - t0) / 0.3 + 2  # once per 0.3 s tick, not twice
        holder, other = (la, lb) if sa.checker.loop.lease.held else (lb, la)  # type: ignore[union-attr]
        assert other.server.checker.runs == 0
        # what an operator sees: partitions a few months ahead, who holds which job, how long since it ran
        texts = [httpx.get(lv.url + "/metrics").text for lv in (holder, other)]
        families = [fam for t in texts for fam in text_string_to_metric_families(t)]
        metrics = {s.name + str(sorted(s.labels.items())): s.value for fam in families for s in fam.samples
                   if s.labels.get("job") == "linli-workorders" or fam.name.startswith("linli_db_partition")}
        assert lint_metrics(texts[0]) == []
        assert metrics["linli_db_partition_ahead_seconds[('table', 'events')]"] > 60 * 86400
        assert metrics["linli_db_partition_default_rows[('table', 'telemetry')]"] == 0
        assert metrics["linli_job_last_run_age_seconds[('job', 'linli-workorders')]"] < 5
        held = [s.value for fam in families for s in fam.samples
                if s.name == "linli_job_lease_held" and s.labels["job"] == "rollouts"]
        assert sorted(held) == [0.0, 1.0]
        holder.stop()  # a clean stop gives the leases up: the other server takes the jobs at its next check
        wait_for(lambda: other.server.checker.runs > 0, 10, what="the checker taken over")
        assert _lease_row(sa.db, "linli-workorders")[0] == other.server.holder  # type: ignore[index]


def test_on_sqlite_nothing_is_leased(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    """One process on SQLite: the jobs run as before, without leases."""
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'linli.db'}", mqtt_broker,
                                   workorders={"check_interval_s": 0.1}, ingest={"enabled": False}))
    with running(app) as live:
        srv = live.server
        assert all(lp.lease is None for lp in srv.loops())
        wait_for(lambda: srv.checker.runs >= 2, 10, what="the checker running")
        with srv.db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM job_leases")).scalar() == 0
