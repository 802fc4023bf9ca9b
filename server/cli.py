"""``linli server [-c config/server.yaml] [--migrate-only]``."""

from __future__ import annotations

import argparse
import gc
import sys

from linli.logs import setup_logging as _setup_logging
from server.settings import Settings, SettingsError, load_settings


def setup_logging(level: str) -> None:
    """Text at a terminal, no doubled timestamps under journald, JSON lines with LINLI_LOG_FORMAT=json."""
    _setup_logging(level)


def main(args: argparse.Namespace) -> int:
    try:
        settings: Settings = load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        print(f"linli server: bad config:\n{exc}", file=sys.stderr)
        return 2
    from server import preflight

    migrate_only = getattr(args, "migrate_only", False)
    if migrate_only:
        problem = preflight.database_problem(settings)
        problems = [problem] if problem is not None else []
    else:
        try:
            settings.mqtt.credentials()  # fail now, with a clear message, rather than inside the app's startup
            settings.all_users()
        except SettingsError as exc:
            print(f"linli server: {exc}", file=sys.stderr)
            return 2
        problems = preflight.check(settings)
    if problems:  # before anything starts (or logs): one line each, exit 2
        print(f"linli server: {problems[0]}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    from server.db.engine import Database
    from server.db.migrate import upgrade

    if migrate_only:
        db = Database(settings.database)
        try:
            rev = upgrade(db.engine)
        finally:
            db.dispose()
        print(f"database {db.engine.url.render_as_string(hide_password=True)} is at revision {rev}")
        return 0
    import uvicorn

    from server.app import create_app

    h = settings.http
    try:
        sock = preflight.bind(h.host, h.port)
    except OSError:
        print(f"linli server: {preflight.port_problem(h.host, h.port, 'http.port')}", file=sys.stderr)
        return 2
    tls = {}
    if h.tls_cert_file is not None and h.tls_key_file is not None:
        tls = {"ssl_certfile": str(h.tls_cert_file), "ssl_keyfile": str(h.tls_key_file)}
    app = create_app(settings)
    # Everything imported and built so far lives as long as the process: move it out of the garbage collector's
    # generations. Otherwise each full collection walks that whole heap (SQLAlchemy, pydantic, FastAPI, every kind),
    # and ingest, which allocates many short-lived objects per message, triggers them often: profiling one worker
    # storing 3,000 events in PostgreSQL, those pauses were a third of its time (1,400 → 2,700–3,000 events/s).
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(app, log_level=settings.log_level.lower(), log_config=None,
                            access_log=settings.log_level == "DEBUG", **tls)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
