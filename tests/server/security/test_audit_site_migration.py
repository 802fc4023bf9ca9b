"""The audit log's site column: an upgraded database gives existing entries their site (from the target), so
users limited to sites keep seeing their history; entries about accounts stay site-less."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from server.db.migrate import head_revisions, upgrade


def test_existing_audit_entries_get_their_site(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    for head in head_revisions():  # the database as it was before this migration
        if not head.startswith("security_"):
            upgrade(engine, head)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO devices (id, site, kind, device, state, first_seen) VALUES "
                             "(1, 'east', 'probe', 'p1', 'online', '2026-12-01 00:00:00')"))
        t = "'2026-12-01 00:00:00'"
        conn.execute(sa.text("INSERT INTO work_orders (id, device_id, site, fault, severity, state, source, title, "
                             "occurrences, created_at, created_by, last_seen_at, respond_by, fix_by) VALUES "
                             f"(7, 1, 'east', 'x', 'alarm', 'received', 'manual', 'x', 1, {t}, 'a', {t}, {t}, {t})"))
        for target in ("gate/west/resident/沪A12345", "east/probe/p1", "workorder/7", "user/zhang", "north"):
            conn.execute(sa.text("INSERT INTO audit_log (at, who, action, target, result, detail) VALUES "
                                 "('2026-12-01 00:00:00', 'a', 'x', :t, 'ok', '{}')"), {"t": target})
    upgrade(engine)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text("SELECT target, site FROM audit_log")).all())
    assert got == {"gate/west/resident/沪A12345": "west", "east/probe/p1": "east", "workorder/7": "east",
                   "user/zhang": None, "north": "north"}
