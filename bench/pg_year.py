#!/usr/bin/env python3
"""Dashboards and the events page on a year of data (PostgreSQL): p50/p95 per query.

    python bench/pg_year.py --quick                 # a private PostgreSQL, a month-spanning smaller set, < 60 s
    python bench/pg_year.py                         # 12 months for 2,000 devices (builds in minutes)
    python bench/pg_year.py --url postgresql+psycopg://…/linli --no-generate   # an existing database
    python bench/pg_year.py --sites 100 --days 45   # every device, fewer months (a 14-day window holds the same rows)

The data comes from ``bench/pg_year_data.py`` (COPY-free bulk ``INSERT … SELECT generate_series``). Every query is
run through the server's own code: each dashboard panel's ``query`` (``server.dashboards`` and every kind's
``dashboard.py``), the headline summary, and ``server.api.events.list_events`` (the events page and its API) with the
filters people use (none, a site, a device, a kind, alarms only, a type prefix, a time window, the next page).
The user is an administrator (every site: the widest, slowest case) and the date range the dashboards' default
(14 Shanghai days up to the newest data).

``measure_dashboard_queries(db_url, quick)`` is importable (``bench/scale.py`` calls it) and measures a database
already filled; it returns ``{"queries": {name: {"p50_ms", "p95_ms", "n"}}, "p95_max_ms", "slowest", "rows"}``.
``run(quick)`` builds the data in a private PostgreSQL first and returns the same plus ``generated``.
The busiest panels read the daily roll-ups (``server.db.rollups``, filled by the generator as ingest keeps them);
``--raw`` times them adding up the raw rows instead (the figures before the roll-ups).
Last line: ``RESULT p95_max_ms=… slowest=… events=… telemetry=… devices=… target_met=… rollups=…``. Target: every
p95 < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from linli.contract import Kind  # noqa: E402
from server.auth import User  # noqa: E402
from server.dashboards import DashboardRegistry, PanelQuery  # noqa: E402
from server.dashboards.api import DEFAULT_DAYS  # noqa: E402
from server.dashboards.fleet import register as register_fleet_panels  # noqa: E402
from server.dashboards.fleet import summary  # noqa: E402
from server.db.engine import Database  # noqa: E402
from server.db.models import Device, Event, Telemetry  # noqa: E402
from server.kinds import ServerKinds  # noqa: E402
from server.settings import DatabaseSettings  # noqa: E402

TARGET_P95_MS = 300.0
ADMIN = User("bench", "admin", None)


def _pct(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm the plan and the cache once; the figures are for a dashboard people keep open
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _registry() -> DashboardRegistry:
    reg = DashboardRegistry()
    register_fleet_panels(reg)
    ServerKinds.load().register_dashboards(reg)
    return reg


def _events_calls(db: Database, newest: datetime) -> dict[str, Callable[[], object]]:
    """The events page's queries (``list_events``, which /events and /api/v1/events share)."""
    from server.api.events import list_events

    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(linli=SimpleNamespace(db=db))))
    with db.session() as s:
        site, kind, device = s.execute(select(Device.site, Device.kind, Device.device).order_by(Device.id)
                                       .limit(1)).one()
        gate_site = s.scalar(select(Device.site).where(Device.kind == Kind.gate.value).order_by(Device.id).limit(1))
    base: dict[str, Any] = {"site": None, "kind": None, "device": None, "type": None, "severity": None,
                            "since": None, "until": None, "limit": 50, "cursor": None}

    def call(**kw: Any) -> Callable[[], Any]:
        return lambda: list_events(request, ADMIN, **{**base, **kw})

    cursor = call()().next_cursor

    return {
        "events.newest": call(),
        "events.next_page": call(cursor=cursor),
        "events.site": call(site=site),
        "events.device": call(site=site, kind=Kind(kind), device=device),
        "events.kind_gate": call(kind=Kind.gate),
        "events.alarms": call(severity="alarm"),
        "events.type_prefix": call(type=f"{Kind.charger.value}.*"),
        "events.gate_site_alarms": call(site=gate_site, severity="alarm"),
        "events.day_window": call(since=newest - timedelta(days=40), until=newest - timedelta(days=39)),
    }


def measure_dashboard_queries(db_url: str, quick: bool = False, repeat: int | None = None,
                              days: int = DEFAULT_DAYS, raw: bool = False) -> dict[str, Any]:
    """p50/p95 (ms) of every dashboard panel, the summary and the events page's queries on the database at
    ``db_url`` (already filled: see ``bench/pg_year_data.py``). ``quick``: fewer repeats. ``raw``: the panels add
    up the raw rows instead of reading the daily roll-ups (``PanelQuery.raw``: the figures before them)."""
    repeat = repeat or (5 if quick else 20)
    db = Database(DatabaseSettings(url=db_url, pool_size=2))
    try:
        with db.session() as s:
            newest = s.scalar(select(func.max(Event.ts))) or datetime.now().astimezone()
            rows = {"devices": s.scalar(select(func.count()).select_from(Device)) or 0,
                    "events": _estimate(s, "events", Event), "telemetry": _estimate(s, "telemetry", Telemetry)}
        until = (newest + timedelta(hours=8)).date()
        since = until - timedelta(days=days - 1)
        calls: dict[str, Callable[[], object]] = {}
        for panel in _registry().all():
            calls[f"panel.{panel.id}"] = _panel_call(db, panel.query, since, until, raw)
        calls["summary"] = lambda: _in_session(db, lambda s: summary(s, ADMIN))
        calls.update(_events_calls(db, newest))
        results: dict[str, dict[str, float]] = {}
        for name, fn in calls.items():
            ms = _timed(fn, repeat)
            results[name] = {"p50_ms": round(_pct(ms, 50), 1), "p95_ms": round(_pct(ms, 95), 1), "n": len(ms)}
        slowest = max(results, key=lambda k: results[k]["p95_ms"])
        return {"queries": results, "p95_max_ms": results[slowest]["p95_ms"], "slowest": slowest, "rows": rows,
                "range": [since.isoformat(), until.isoformat()], "target_p95_ms": TARGET_P95_MS, "raw": raw}
    finally:
        db.dispose()


def _estimate(s: Any, table: str, model: Any) -> int:
    """Row count: exact on SQLite, the planner's estimate on PostgreSQL (counting a year of rows takes seconds)."""
    if s.get_bind().dialect.name == "postgresql":
        n = s.scalar(text("SELECT coalesce((SELECT sum(c.reltuples) FROM pg_inherits i JOIN pg_class c "
                          "ON c.oid = i.inhrelid WHERE i.inhparent = CAST(CAST(:parent AS text) AS regclass)), "
                          "(SELECT reltuples FROM pg_class WHERE relname = CAST(:plain AS text)))::bigint"),
                     {"parent": table, "plain": table})
        return max(int(n or 0), 0)
    return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _in_session(db: Database, fn: Callable[[Any], object]) -> object:
    with db.session() as s:
        return fn(s)


def _panel_call(db: Database, query: Callable[[PanelQuery], object], since: date, until: date, raw: bool = False
                ) -> Callable[[], object]:
    return lambda: _in_session(db, lambda s: query(PanelQuery(s, ADMIN, since, until, raw=raw)))


def report(res: dict[str, Any]) -> None:
    print(f"{'query':44s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, r in sorted(res["queries"].items(), key=lambda kv: -kv[1]["p95_ms"]):
        flag = "  over target" if r["p95_ms"] > TARGET_P95_MS else ""
        print(f"{name:44s} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}{flag}")
    print(f"rows: {json.dumps(res['rows'])}; range {res['range'][0]} … {res['range'][1]}")


def run(quick: bool = False, url: str | None = None, generate_data: bool = True, sites: int | None = None,
        days: int | None = None, repeat: int | None = None, raw: bool = False) -> dict[str, Any]:
    """Build the data (in a private throw-away cluster unless ``url`` is given) and measure it: the result of
    :func:`measure_dashboard_queries` plus ``generated`` (what was built) and ``generate_s``."""
    from bench.pg_year_data import generate, private_cluster

    with private_cluster(url) as db_url:
        built: dict[str, Any] = {}
        t0 = time.perf_counter()
        if generate_data:
            built = generate(db_url, quick=quick, sites=sites, days=days)
        generate_s = round(time.perf_counter() - t0, 1)
        res = measure_dashboard_queries(db_url, quick=quick, repeat=repeat, raw=raw)
    return {**res, "generated": built, "generate_s": generate_s}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller data set (still spanning months), fewer repeats")
    p.add_argument("--url", help="an existing PostgreSQL database (default: a private throw-away cluster)")
    p.add_argument("--no-generate", action="store_true", help="measure the data already in --url")
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--sites", type=int, default=None, help="compounds of 20 devices (default 100; --quick 5)")
    p.add_argument("--days", type=int, default=None, help="days of data (default 365; --quick 62)")
    p.add_argument("--raw", action="store_true",
                   help="panels from the raw rows, not the daily roll-ups (the figures before the roll-ups)")
    args = p.parse_args(argv)
    res = run(args.quick, args.url, not args.no_generate, args.sites, args.days, args.repeat, args.raw)
    if res["generated"]:
        print(f"generated in {res['generate_s']} s: {json.dumps(res['generated'])}")
    report(res)
    print(f"RESULT p95_max_ms={res['p95_max_ms']} slowest={res['slowest']} events={res['rows']['events']} "
          f"telemetry={res['rows']['telemetry']} devices={res['rows']['devices']} "
          f"target_met={int(res['p95_max_ms'] < TARGET_P95_MS)} rollups={int(not res['raw'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
