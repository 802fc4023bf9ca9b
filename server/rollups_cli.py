"""``linli rollups rebuild|check``: the daily roll-ups (``server.db.rollups``) made again from the raw rows, or
compared with them.

    linli rollups rebuild -c config/server.yaml                     # every roll-up, every day
    linli rollups rebuild -c … --table gate_passage_days --since 2026-11-01 --until 2026-11-30
    linli rollups check -c …                                        # exit 1 when a roll-up differs from the raw rows

Ingest keeps them as it stores; rebuild them after restoring raw rows from a backup, or after editing rows by hand.
A rebuild is one transaction (it takes the roll-ups' rows of those days, briefly, from ingest).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from server.settings import Settings, SettingsError, load_settings


def main(args: argparse.Namespace) -> int:
    try:
        settings: Settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"linli rollups: bad config:\n{exc}", file=sys.stderr)
        return 2
    from server.db import rollups
    from server.db.engine import Database
    from server.db.migrate import load_all_models, upgrade

    try:
        since = date.fromisoformat(args.since) if args.since else None
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        print(f"linli rollups: {exc} (days are YYYY-MM-DD)", file=sys.stderr)
        return 2
    load_all_models()
    known = {m.table().name for m in rollups.models()}
    unknown = sorted(set(args.table or ()) - known)
    if unknown:
        print(f"linli rollups: no roll-up table {', '.join(unknown)} (there are: {', '.join(sorted(known))})",
              file=sys.stderr)
        return 2
    db = Database(settings.database)
    try:
        upgrade(db.engine)
        t0 = time.perf_counter()
        with db.engine.begin() as conn:
            if args.action == "rebuild":
                made = rollups.rebuild(conn, args.table, since, until)
                for table, n in made.items():
                    print(f"{table}: {n} row(s) made from the raw rows")
                print(f"rebuilt in {time.perf_counter() - t0:.1f} s")
                return 0
            diff = rollups.check(conn, args.table, since, until)
        for table, n in diff.items():
            print(f"{table}: {'equal to the raw rows' if n == 0 else f'{n} row(s) differ from the raw rows'}")
        return 1 if any(diff.values()) else 0
    finally:
        db.dispose()
