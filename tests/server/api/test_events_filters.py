"""/api/v1/events (and the /events page, which calls it): the device filter, looked up by device id first (each
monthly partition's (device_id, ts) index on PostgreSQL) — same answers as the join, site scoping kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from linli.contract import Kind, new_id
from server.api.events import list_events
from server.auth import User
from server.db import Database, upgrade
from server.db.models import Device, Event
from server.settings import DatabaseSettings

BASE: dict[str, Any] = {"site": None, "kind": None, "device": None, "type": None, "severity": None,
                        "since": None, "until": None, "limit": 50, "cursor": None}


def test_device_filter_by_id_keeps_sites_apart(db_url: str) -> None:
    db = Database(DatabaseSettings(url=db_url))
    try:
        upgrade(db.engine)
        now = datetime.now(UTC)
        with db.session() as s:
            devs = {site: Device(site=site, kind="probe", device="p1", state="online", first_seen=now)
                    for site in ("west", "east")}
            other = Device(site="west", kind="probe", device="p2", state="online", first_seen=now)
            s.add_all([*devs.values(), other])
            s.flush()
            for i, dev in enumerate([devs["west"], devs["east"], other] * 3):
                s.add(Event(id=new_id(), device_id=dev.id, type="probe.input", severity="info",
                            ts=now - timedelta(minutes=i), received_at=now, data={}, blobs=[]))
        request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(linli=SimpleNamespace(db=db))))
        admin, west = User("a", "admin", None), User("w", "manager", frozenset({"west"}))

        def sites(user: User, **kw: Any) -> list[str]:
            return sorted(e.site for e in list_events(request, user, **{**BASE, **kw}).items)

        assert sites(admin, device="p1") == ["east"] * 3 + ["west"] * 3
        assert sites(admin, device="p1", site="east") == ["east"] * 3
        assert sites(admin, device="p1", kind=Kind.probe, site="west") == ["west"] * 3
        assert sites(west, device="p1") == ["west"] * 3  # scoping still applies
        assert sites(admin, device="nope") == []
        page = list_events(request, admin, **{**BASE, "device": "p1", "limit": 4})
        rest = list_events(request, admin, **{**BASE, "device": "p1", "limit": 4, "cursor": page.next_cursor})
        assert len(page.items) == 4 and len(rest.items) == 2 and rest.next_cursor is None
    finally:
        db.dispose()
