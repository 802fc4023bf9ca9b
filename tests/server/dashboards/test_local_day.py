"""Shanghai calendar days in SQL (``local_day``), the same on SQLite and PostgreSQL: an event at 16:30 UTC is on the
next day in Shanghai, one at 15:59 UTC on the same day; the fleet's reporting rate counts a device once a day. The
daily roll-ups rebuilt from those rows (``server.db.rollups.rebuild``) give the same days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from linli.contract import new_id
from server.auth import User
from server.dashboards import PanelQuery
from server.dashboards.fleet import reporting_rate
from server.dashboards.queries import events_per_day
from server.db import Database, upgrade
from server.db.models import Device, Event, Telemetry
from server.db.rollups import rebuild
from server.settings import DatabaseSettings


def test_days_split_at_shanghai_midnight(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url))
    try:
        upgrade(db.engine)
        first = datetime(2026, 11, 1, tzinfo=UTC)
        with db.session() as s:
            dev = Device(site="west", kind="probe", device="p1", state="online", first_seen=first)
            s.add(dev)
            s.flush()
            for ts in (datetime(2026, 12, 4, 15, 59, tzinfo=UTC), datetime(2026, 12, 4, 16, 30, tzinfo=UTC),
                       datetime(2026, 12, 5, 3, 0, tzinfo=UTC)):
                s.add(Event(id=new_id(), device_id=dev.id, type="probe.input", severity="info", ts=ts,
                            received_at=ts, data={}, blobs=[]))
                s.add(Telemetry(device_id=dev.id, ts=ts, received_at=ts, health={}, gauges={}))
        with db.engine.begin() as conn:
            assert rebuild(conn, ["event_days", "reporting_days"]) == {"event_days": 2, "reporting_days": 2}
        for raw in (True, False):
            with db.session() as s:
                q = PanelQuery(s, User("a", "admin", None), date(2026, 12, 4), date(2026, 12, 6), raw=raw)
                chart = events_per_day(q, series_name="n", split=None)
                assert chart.labels == ["2026-12-04", "2026-12-05", "2026-12-06"]
                assert [x.values for x in chart.series] == [[1, 2, 0]]
                rate = reporting_rate(q)
                assert [(x.name, x.values) for x in rate.series] == [("probe", [100.0, 100.0, 0.0])]
    finally:
        db.dispose()
