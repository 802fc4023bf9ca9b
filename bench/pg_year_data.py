"""A year of a district's data in PostgreSQL, built in the database (``INSERT … SELECT generate_series``).

``generate(url, quick=False)``: 2,000 devices on 100 compounds (each: 10 lift guards, 3 gate lanes, 5 charging
piles, 2 taxi kiosks), 12 months of events at the rates below (about 52,000 a day, 19 million a year), the kinds'
tables the dashboards read (gate passages, lift blocks and faults, charger orders, taxi orders, work orders), and
telemetry for the last 90 days (the default ``retention.telemetry_days``) at one row per device per 30 minutes.
Devices send telemetry every 30 s; the reporting-rate panels read the daily roll-up of the days each device
reported, so their cost does not grow with the telemetry rate (see ``server/dashboards/fleet.py``).
Run alone it times the build: ``python bench/pg_year_data.py [--quick]`` (last line ``RESULT generate_s=…``).
``quick``: 5 compounds (100 devices), 62 days (three calendar months), telemetry every 30 minutes.
The daily roll-ups the dashboards read (``server.db.rollups``: events, reporting devices, gate passages) are then
made from those rows in SQL (``rollups.rebuild``, the same statement as ``linli rollups rebuild``), as ingest would
have kept them.

Loading takes a superuser (the foreign-key triggers are off while it runs, as in ``pg_restore``). The database
is migrated first (``server.db.migrate.upgrade``), so the data lands in the monthly partitions the
server creates; the past months' partitions are made with ``server.db.partitions.ensure_months``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import Boolean, DateTime, Integer, Numeric, String, Text, text  # noqa: E402
from sqlalchemy.types import JSON  # noqa: E402

from linli.contract import charger, gate, lift_guard, taxi_kiosk  # noqa: E402
from linli.testing import PostgresCluster  # noqa: E402
from server.db import rollups  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.migrate import load_all_models, upgrade  # noqa: E402
from server.db.models import Base  # noqa: E402
from server.db.partitions import TABLES, add_months, ensure_months, month_of  # noqa: E402
from server.settings import DatabaseSettings  # noqa: E402

#: devices of each kind on one compound
PER_SITE = {"lift_guard": 10, "gate": 3, "charger": 5, "taxi_kiosk": 2}
#: (kind, event type, severity, events per device per day)
RATES: tuple[tuple[str, str, str, float], ...] = tuple(
    (kind, m.EVENT.type, m.EVENT.severity, per_day) for kind, m, per_day in (
    ("gate", gate.PassageData, 110.0), ("gate", gate.DoorAccess, 10.0),
    ("gate", gate.Tailgating, 0.3), ("gate", gate.DoorHeldOpen, 0.1), ("gate", gate.ArmFault, 0.02),
    ("lift_guard", lift_guard.BlockStarted, 4.0), ("lift_guard", lift_guard.BlockEnded, 4.0),
    ("lift_guard", lift_guard.Fault, 0.02), ("lift_guard", lift_guard.FaultCleared, 0.02),
    ("charger", charger.SessionStarted, 5.0), ("charger", charger.Settlement, 5.0),
    ("charger", charger.Refused, 0.5), ("charger", charger.Fault, 0.03),
    ("taxi_kiosk", taxi_kiosk.OrderRequested, 6.0), ("taxi_kiosk", taxi_kiosk.OrderSync, 6.0),
    ("taxi_kiosk", taxi_kiosk.OrderCancel, 1.0), ("taxi_kiosk", taxi_kiosk.OrderPhone, 1.0),
))
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid_sql(ts: str, n: str) -> str:
    """A ULID from a timestamp expression (its 48-bit ms time, Crockford base32) and a unique bigint (hex, which
    is valid Crockford) — inlined SQL, no function call per row."""
    ms = f"(floor(extract(epoch from {ts}) * 1000)::bigint)"
    chars = [f"substr('{_B32}', (({ms} >> {5 * (9 - i)}) & 31)::int + 1, 1)" for i in range(10)]
    return " || ".join(chars) + f" || lpad(upper(to_hex({n})), 16, '0')"


def _fill(table: str, given: dict[str, str]) -> tuple[str, str]:
    """Column list and expressions: ``given``, plus a plain value for every other NOT NULL column without a server
    default (the models' Python-side defaults do not apply to ``INSERT … SELECT``)."""
    cols = dict(given)
    for c in Base.metadata.tables[table].columns:
        serial = c.primary_key and isinstance(c.type, Integer) and len(c.table.primary_key.columns) == 1
        if c.name in cols or c.nullable or c.server_default is not None or serial:
            continue
        t = c.type
        cols[c.name] = ("false" if isinstance(t, Boolean) else "0" if isinstance(t, Integer | Numeric)
                        else "now()" if isinstance(t, DateTime) else "'{}'::jsonb" if isinstance(t, JSON)
                        else "''" if isinstance(t, String | Text) else "NULL")
    return ", ".join(f'"{k}"' for k in cols), ", ".join(cols.values())


def _insert(conn: Any, table: str, given: dict[str, str], tail: str) -> int:
    cols, exprs = _fill(table, given)
    return int(conn.execute(text(f"INSERT INTO {table} ({cols}) SELECT {exprs} {tail}")).rowcount or 0)


def generate(url: str, quick: bool = False, now: datetime | None = None, sites: int | None = None,
             days: int | None = None) -> dict[str, Any]:
    """Fill the (empty) PostgreSQL database at ``url``; returns what was made. ``sites`` (20 devices each) and
    ``days`` override the full or quick size."""
    load_all_models()
    sites = sites or (5 if quick else 100)
    days = days or (62 if quick else 365)
    tele_days, tele_step_min = min(days, 90), 30
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(days=days)
    db = Database(DatabaseSettings(url=url, pool_size=2))
    made: dict[str, Any] = {"sites": sites, "days": days}
    try:
        upgrade(db.engine)
        with db.engine.begin() as conn:
            # bulk load: foreign-key triggers off for this transaction (superuser; every row names a device made
            # here), as pg_restore does
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in TABLES:
                ensure_months(conn, table, month_of(start), add_months(month_of(now), 1))
            made["devices"] = _devices(conn, sites, start)
            t0 = time.perf_counter()
            made["events"] = _events(conn, start, now)
            made["events_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            made["telemetry"] = _insert(conn, "telemetry", {
                "device_id": "d.id", "ts": "g", "received_at": "g",
                "health": """jsonb_build_object('cpu', 20 + (d.id % 30), 'mem', 40, 'disk', 30, 'temp', 50)""",
                "gauges": "'{}'::jsonb"},
                f"FROM devices d CROSS JOIN generate_series(timestamptz '{now - timedelta(days=tele_days)}', "
                f"timestamptz '{now}', interval '{tele_step_min} minutes') g")
            made["telemetry_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            made.update(_kind_tables(conn))
            made["kind_tables_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            made["rollups"] = rollups.rebuild(conn)
            made["rollups_s"] = round(time.perf_counter() - t0, 1)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        db.dispose()
    return made


def _devices(conn: Any, sites: int, start: datetime) -> int:
    n = 0
    for kind, count in PER_SITE.items():
        n += _insert(conn, "devices", {
            "site": "'c' || lpad(s::text, 3, '0')", "kind": f"'{kind}'",
            "device": f"'{kind.split('_')[0]}' || lpad(i::text, 2, '0')",
            "state": "CASE WHEN random() < 0.97 THEN 'online' ELSE 'offline' END",
            "first_seen": f"timestamptz '{start}'", "last_seen": "now()", "state_since": "now()"},
            f"FROM generate_series(1, {sites}) s CROSS JOIN generate_series(1, {count}) i")
    return n


def _events(conn: Any, start: datetime, now: datetime) -> int:
    span = (now - start).total_seconds()
    days = span / 86400
    n = 0
    for i, (kind, etype, severity, rate) in enumerate(RATES):
        per_device = rate * days
        count = f"floor({per_device} + random())::int" if per_device < 50 else str(round(per_device))
        ts = f"(timestamptz '{start}' + random() * interval '{span} seconds')"
        n += _insert(conn, "events", {
            "id": _ulid_sql("x.ts", f"({i}::bigint << 40) + x.n"), "device_id": "x.device_id",
            "type": f"'{etype}'", "severity": f"'{severity}'", "ts": "x.ts", "received_at": "x.ts",
            "data": _data_sql(etype), "blobs": "'[]'::jsonb"},
            f"FROM (SELECT d.id AS device_id, {ts} AS ts, row_number() OVER () AS n FROM devices d "
            f"CROSS JOIN LATERAL generate_series(1, {count}) g WHERE d.kind = '{kind}') x")
    return n


def _data_sql(etype: str) -> str:
    if etype == gate.PassageData.EVENT.type:
        return ("jsonb_build_object('lane', 'in', 'plate', '沪A' || lpad((x.n % 99999)::text, 5, '0'), "
                "'decision', 'open')")
    if etype == charger.Settlement.EVENT.type:
        return "jsonb_build_object('port', 1 + x.n % 10, 'energy_wh', 500 + x.n % 1500, 'amount_fen', 100 + x.n % 400)"
    return "'{}'::jsonb"


def _kind_tables(conn: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    out["gate_passages"] = _insert(conn, "gate_passages", {
        "event_id": "e.id", "device_id": "e.device_id", "site": "d.site", "lane": "'lane1'",
        "direction": "CASE WHEN e.id < 'G' OR right(e.id, 1) < '8' THEN 'entry' ELSE 'exit' END",
        "at": "e.ts", "plate": "e.data->>'plate'", "colour": "'blue'", "source": "'camera'",
        "decision": "CASE WHEN right(e.id, 2) < '0F' THEN 'pay' ELSE 'open' END", "reason": "'resident'",
        "category": "'resident'", "match": "'exact'", "opened": "true",
        "fee_cents": "CASE WHEN right(e.id, 1) IN ('9', 'A') THEN 500 END", "data": "e.data"},
        "FROM events e JOIN devices d ON d.id = e.device_id WHERE e.type = 'gate.passage'")
    out["lift_blocks"] = _insert(conn, "lift_blocks", {
        "block_id": "e.id", "device_id": "e.device_id", "cls": "'ebike'", "started_at": "e.ts",
        "ended_at": "e.ts + interval '40 seconds'", "latency_ms": "150 + (right(e.id, 2) ~ '^[0-9]+$')::int * 60",
        "hold_s": "40", "reason": "'left'", "staff_release": "right(e.id, 1) = '0'",
        "alarm": "right(e.id, 2) = '11'", "day": "to_char(e.ts AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')",
        "start_event": "e.id"},
        "FROM events e WHERE e.type = 'lift.block'")
    out["lift_faults"] = _insert(conn, "lift_faults", {
        "id": "e.id", "device_id": "e.device_id", "fault": "'camera'", "detail": "''", "started_at": "e.ts",
        "cleared_at": "e.ts + interval '10 minutes'", "duration_s": "600"},
        "FROM events e WHERE e.type = 'lift.fault'")
    out["charger_orders"] = _insert(conn, "charger_orders", {
        "order_id": "e.id", "device_id": "e.device_id", "port": "(e.data->>'port')::int", "source": "'card'",
        "user": "''", "mode": "'energy'", "tariff_version": "1", "state": "'settled'",
        "started_at": "e.ts - interval '3 hours'", "ended_at": "e.ts", "settled_at": "e.ts",
        "energy_wh": "(e.data->>'energy_wh')::int", "amount_fen": "(e.data->>'amount_fen')::int",
        "settlement_event_id": "e.id", "settlements_received": "1", "acks_sent": "1"},
        "FROM events e WHERE e.type = 'charger.settlement'")
    out["taxi_orders"] = _insert(conn, "taxi_orders", {
        "id": "e.id", "device_id": "e.device_id", "request_key": "e.id", "source": "'button'",
        "state": "CASE WHEN right(e.id, 1) < '3' THEN 'cancelled' ELSE 'completed' END",
        "place": "'{\"name\": \"东门\"}'::jsonb", "elderly_priority": "true", "requested_at": "e.ts",
        "received_at": "e.ts", "stored_at": "e.ts", "first_eta_s": "300", "eta_s": "0", "attempts": "1"},
        "FROM events e WHERE e.type = 'taxi.order_requested'")
    out["work_orders"] = _insert(conn, "work_orders", {
        "device_id": "e.device_id", "site": "d.site", "fault": "e.type || ':' || e.id", "severity": "'alarm'",
        "state": "CASE WHEN e.ts > now() - interval '2 days' THEN 'received' ELSE 'closed' END",
        "source": "'event'", "title": "e.type", "occurrences": "1", "created_at": "e.ts",
        "created_by": "'system'", "last_seen_at": "e.ts", "respond_by": "e.ts + interval '30 minutes'",
        "fix_by": "e.ts + interval '24 hours'"},
        "FROM events e JOIN devices d ON d.id = e.device_id WHERE e.severity = 'alarm'")
    return out


@contextmanager
def private_cluster(url: str | None) -> Iterator[str]:
    """``url`` as it is, or a throw-away PostgreSQL cluster in a temporary folder (removed afterwards)."""
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="linli-pgyear-"))
    root.chmod(0o755)
    cluster = PostgresCluster(root / "cluster")
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="5 compounds, 62 days")
    p.add_argument("--url", help="an empty PostgreSQL database (default: a private throw-away cluster)")
    args = p.parse_args(argv)
    with private_cluster(args.url) as url:
        t0 = time.perf_counter()
        made = generate(url, quick=args.quick)
        took = time.perf_counter() - t0
    print(json.dumps(made))
    print(f"RESULT generate_s={took:.1f} devices={made['devices']} events={made['events']} "
          f"telemetry={made['telemetry']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
