"""Several ingest workers store a device's messages in whatever order their batches commit. A will ("offline") of a
connection that is gone must not override what the device said on a later connection, whichever worker stores it
last; a will that really is the latest news still marks the device offline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from linli import contract
from linli.contract import DeviceRef, Kind
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Device
from server.ingest.registry import HandlerRegistry
from server.ingest.service import Ingest
from server.ingest.stats import IngestStats
from server.ingest.store import Incoming
from server.settings import DatabaseSettings, IngestSettings
from server.storage import SnapshotStore

REF = DeviceRef("order", Kind.probe, "p-order")
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'linli.db'}"))
    upgrade(db.engine)
    yield Ingest(IngestSettings(), db, SnapshotStore(tmp_path / "snaps"), IngestStats(CollectorRegistry()),
                 HandlerRegistry())
    db.engine.dispose()


def status(state: str, at: datetime) -> Incoming:
    st = contract.Status(state=state, kind=Kind.probe) if state != "offline" else None  # type: ignore[arg-type]
    payload = st.encode() if st is not None else contract.offline_status(Kind.probe).encode()
    return Incoming(REF.status_topic, payload, arrived=at)


def state(ing: Ingest) -> str:
    with ing.db.session() as s:
        return s.execute(select(Device.state).where(Device.device == REF.device)).scalar_one()


def test_a_will_stored_after_a_later_online_does_not_mark_the_device_offline(ingest: Ingest) -> None:
    ingest.process([status("online", T0)])
    # worker B stores the re-announcement of the new connection (arrived at T0+2 s) first …
    ingest.process([status("online", T0 + timedelta(seconds=2))])
    # … worker A stores the old connection's will (arrived at T0+1 s) after it
    ingest.process([status("offline", T0 + timedelta(seconds=1))])
    assert state(ingest) == "online"


def test_a_will_that_is_the_latest_news_marks_the_device_offline(ingest: Ingest) -> None:
    ingest.process([status("online", T0)])
    ingest.process([status("offline", T0 + timedelta(seconds=5))])
    assert state(ingest) == "offline"
    # in one batch, in order: the will, then the new connection's birth
    ingest.process([status("offline", T0 + timedelta(seconds=6)), status("online", T0 + timedelta(seconds=7))])
    assert state(ingest) == "online"
    ingest.process([status("online", T0 + timedelta(seconds=8)), status("offline", T0 + timedelta(seconds=9))])
    assert state(ingest) == "offline"
