"""The outbox when the disk does not take a write (disk full, I/O error) and when its file is found damaged:
messages wait in a bounded memory queue, what does not fit is counted as lost, and the server is told — by a
fault event when writing works again and by the ``outbox_lost`` telemetry gauge.

The disk is filled at SQLite's own boundary: ``PRAGMA max_page_count`` caps the file at its current size, so the
next write fails with SQLITE_FULL exactly as on a full card."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from edge.runtime.harness import AgentFactory
from edge.runtime.outbox import PRIORITY_TELEMETRY, Outbox, StorageReport
from linli.contract import Channel, DeviceRef, Event, Kind
from linli.contract.runtime import ConfigRefused
from linli.testing import wait_for

if TYPE_CHECKING:
    from edge.runtime.harness import Recorder

REF = DeviceRef("t-site", Kind.probe, "obfull")


def _fill(db: sqlite3.Connection) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")


def _free(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA max_page_count=1073741823")


def _ev(i: int) -> Event:
    return Event(type="test.tick", data={"i": i, "pad": "x" * 2000})


def _drain(ob: Outbox) -> list[bytes]:
    out, mid = [], 0
    while rows := ob.take(10):
        for r in rows:
            mid += 1
            ob.mark_sent(r.id, mid, r.qos)
            out.append(r.payload)
        ob.acked(range(mid - len(rows) + 1, mid + 1))
    return out


def test_disk_full_keeps_events_in_memory_and_writes_them_in_order_when_space_returns(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", memory_max=100, retry_s=0)
    reports: list[StorageReport] = []
    ob.on_storage_report(reports.append)
    _fill(ob._db)
    events = [_ev(i) for i in range(10)]
    for ev in events:
        ob.enqueue_event(REF, ev)  # never raises: the device keeps working
    assert ob.failing and "full" in ob.failing
    assert ob.held() > 0 and ob.lost() == 0 and ob.depth() == 10
    ob.retry_pending()
    assert not reports  # still full
    _free(ob._db)
    ob.retry_pending()
    assert len(reports) == 1 and reports[0].lost == 0 and reports[0].kept == ob.depth() - (10 - reports[0].kept)
    assert ob.failing is None and ob.held() == 0
    sent = [json.loads(p)["data"]["i"] for p in _drain(ob)]
    assert sent == list(range(10))  # nothing lost, order kept
    ob.close()


def test_memory_queue_overflow_is_counted_as_lost_and_persisted(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", memory_max=5, retry_s=0)
    reports: list[StorageReport] = []
    ob.on_storage_report(reports.append)
    _fill(ob._db)
    ob.enqueue(REF.telemetry_topic, b"{}", qos=0, priority=PRIORITY_TELEMETRY)
    for i in range(12):
        ob.enqueue_event(REF, _ev(i))
    assert ob.held() == 5 and ob.lost() > 0
    assert ob.depth() + ob.lost() == 13  # every message is either queued (on disk or in memory) or counted
    _free(ob._db)
    ob.retry_pending()
    assert reports and reports[0].lost == ob.lost() and reports[0].lost > 0
    lost = ob.lost()
    ob.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.lost() == lost  # the count survives a restart
    again.close()


def test_io_error_at_the_sqlite_boundary_is_held_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ob = Outbox(tmp_path / "o.sqlite", retry_s=0)

    class Broken:
        def __init__(self, real: sqlite3.Connection) -> None:
            self.real = real

        def execute(self, sql: str, *a: object) -> sqlite3.Cursor:
            if sql.startswith("INSERT"):
                err = sqlite3.OperationalError("disk I/O error")
                err.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE  # type: ignore[attr-defined]
                raise err
            return self.real.execute(sql, *a)

    real = ob._db
    monkeypatch.setattr(ob, "_db", Broken(real))
    ob.enqueue_event(REF, _ev(1))
    assert ob.failing == "disk I/O error" and ob.held() == 1
    monkeypatch.setattr(ob, "_db", real)
    ob.retry_pending()
    assert ob.failing is None and len(_drain(ob)) == 1
    ob.close()


def test_damaged_outbox_file_is_reported_with_an_unknown_loss(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 200)
    ob = Outbox(path)
    loss = ob.startup_loss
    assert loss is not None and loss.lost is None and loss.salvaged == 0
    assert loss.moved_to.exists() and loss.moved_to.read_bytes().startswith(b"this is not")
    ob.enqueue_event(REF, _ev(1))  # a fresh queue works
    assert ob.depth() == 1
    ob.close()


def test_readable_rows_of_a_damaged_file_are_recovered_and_the_rest_counted(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    for i in range(30):
        ob.enqueue_event(REF, _ev(i))
    ob.close()
    # damage a page of the table's b-tree (not the header): quick_check fails, some rows still read
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[10 * page: 10 * page + 12] = b"\xff" * 12  # the header of one of the table's leaf pages
    path.write_bytes(bytes(data))
    ob = Outbox(path)
    loss = ob.startup_loss
    assert loss is not None
    assert 0 < loss.salvaged < 30  # the rows before the damaged page are queued again
    assert loss.lost is None or loss.salvaged + loss.lost == 30
    assert ob.depth() == loss.salvaged
    ob.close()


def test_agent_reports_disk_full_to_the_server(agents: AgentFactory, recorder: Recorder) -> None:
    """End to end: the agent's outbox fills up, events keep coming, space returns → the broker gets every kept
    event, a fault event ``outbox.write_failed`` with the loss, and telemetry carrying ``outbox_lost``."""
    agent = agents.make(outbox={"memory_max": 5}, telemetry_interval_s=0.3)
    ob = agent.outbox
    ob.retry_s = 0.05
    assert agent.link.wait_connected(10)
    _fill(ob._db)
    emitted = [agent.emit(ConfigRefused(version=i, by="test", error="x" * 2000)) for i in range(8)]
    wait_for(lambda: ob.lost() >= 3, 5, what="overflow counted")
    _free(ob._db)
    fault = recorder.wait(lambda: recorder.events(agent.ref, "outbox.write_failed"), 15, what="the fault event")
    data = fault[0].data
    assert fault[0].severity == "alarm" and data["lost"] == ob.lost() >= 3 and data["kept"] >= 5
    newest = {e.id for e in emitted[-5:]}
    recorder.wait(lambda: newest <= {e.id for e in recorder.events(agent.ref, ConfigRefused.EVENT.type)}, 10,
                  what="the events kept in memory")  # the alarm goes first, then these
    got = {e.id for e in recorder.events(agent.ref, ConfigRefused.EVENT.type)}
    assert got <= {e.id for e in emitted}
    assert data["lost"] >= len(emitted) - len(got)
    recorder.wait(lambda: any((t.gauges.get("outbox_lost") or 0) >= 3
                              for t in recorder.payloads(Channel.telemetry, agent.ref)), 10,
                  what="outbox_lost in telemetry")


def test_agent_tells_the_server_its_outbox_was_damaged(agents: AgentFactory, recorder: Recorder) -> None:
    ref, path = agents.config()
    data_dir = path.parent / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "outbox.sqlite").write_bytes(b"\x00garbage" * 500)
    agent = agents.make(ref)
    ev = recorder.wait(lambda: recorder.events(agent.ref, "outbox.corrupt"), 10, what="outbox.corrupt event")[0]
    assert ev.severity == "alarm" and ev.data["lost"] is None and ev.data["lost_known"] is False
    assert ev.data["recovered"] == 0 and ".corrupt-" in ev.data["moved_to"]
