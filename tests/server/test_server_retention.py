"""Snapshot retention: purged after N days (PIPL), by a direct call and by the periodic thread."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from linli.contract import sha256_hex, utcnow
from linli.testing import wait_for
from server.app import create_app
from server.db import Database
from server.db.models import Blob, Device
from server.retention import Maintenance, purge_snapshots
from server.settings import DatabaseSettings
from server.storage import SnapshotStore
from server.testing import DevicePool, DeviceSim, make_settings, running, stored

if TYPE_CHECKING:
    from linli.testing import TestBroker


def test_purge_after_retention_days(db_url: str, mqtt_broker: TestBroker, device_pool: DevicePool,
                                    tmp_path: Path) -> None:
    ref, creds = device_pool["p1"]
    settings = make_settings(tmp_path, db_url, mqtt_broker)
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds, birth=False)
    try:
        with running(create_app(settings)) as ls:
            srv = ls.server
            data = b"\xff\xd8" + uuid.uuid4().bytes + b"\xff\xd9"
            sha = dev.blob(data)
            ev = dev.event("probe.snapshot", blobs=[sha])
            wait_for(lambda: stored(srv, ev.id) == 1, what="event with snapshot")
            orphan = srv.snapshots.write(sha256_hex(b"orphan"), b"orphan")  # a file without a row
            old = (utcnow() - timedelta(days=40)).timestamp()
            os.utime(orphan, (old, old))
            with ls.client() as http:
                assert http.get(f"/api/v1/blobs/{sha}").status_code == 200
            # 29 days later: kept (only the old orphan goes)
            r = purge_snapshots(srv.db, srv.snapshots, days=30, now=utcnow() + timedelta(days=29))
            assert (r.rows, r.files) == (0, 1) and not orphan.exists()
            assert srv.snapshots.exists(sha)
            # 31 days later: purged, the row stays and says so
            r = purge_snapshots(srv.db, srv.snapshots, days=30, now=utcnow() + timedelta(days=31))
            assert r.rows == 1 and r.files == 1 and not srv.snapshots.exists(sha)
            with srv.db.session() as s:
                row = s.get(Blob, sha)
                assert row is not None and row.purged_at is not None
            with ls.client() as http:
                assert http.get(f"/api/v1/blobs/{sha}").status_code == 410
                assert http.get(f"/api/v1/events/{ev.id}").json()["blobs"][0]["sha256"] == sha
            # a replay of the purged snapshot does not bring it back
            dev.blob(data)
            wait_for(lambda: srv.stats.snapshot()["duplicate"] >= 1, what="replayed blob seen")
            assert not srv.snapshots.exists(sha)
    finally:
        dev.close()


def test_periodic_purge_thread(tmp_path: Path) -> None:
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'r.db'}"))
    from server.db import upgrade

    upgrade(db.engine)
    store = SnapshotStore(tmp_path / "snaps")
    old_sha, new_sha = sha256_hex(b"old"), sha256_hex(b"new")
    with db.session() as s:
        d = Device(site="west", kind="probe", device="r1", state="unknown", first_seen=utcnow())
        s.add(d)
        s.flush()
        s.add(Blob(sha256=old_sha, device_id=d.id, size=3, content_type="image/jpeg",
                   received_at=utcnow() - timedelta(days=31)))
        s.add(Blob(sha256=new_sha, device_id=d.id, size=3, content_type="image/jpeg",
                   received_at=utcnow() - timedelta(days=29)))
    store.write(old_sha, b"old")
    store.write(new_sha, b"new")
    m = Maintenance(db, store, days=30, interval_s=0.05)
    m.start()
    try:
        wait_for(lambda: not store.exists(old_sha), what="old snapshot purged by the thread")
        wait_for(lambda: m.runs >= 2, what="a second run")
        assert store.exists(new_sha)
    finally:
        m.stop()
        db.dispose()
