"""``linli server [-c config/server.yaml] [--migrate-only]``."""

from __future__ import annotations

import argparse
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
    setup_logging(settings.log_level)
    from server.db.engine import Database
    from server.db.migrate import upgrade

    if getattr(args, "migrate_only", False):
        db = Database(settings.database)
        try:
            rev = upgrade(db.engine)
        finally:
            db.dispose()
        print(f"database {db.engine.url.render_as_string(hide_password=True)} is at revision {rev}")
        return 0
    try:
        settings.mqtt.credentials()  # fail now, with a clear message, rather than inside the app's startup
        settings.all_users()
    except SettingsError as exc:
        print(f"linli server: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from server.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=settings.http.host, port=settings.http.port, log_level=settings.log_level.lower(),
                log_config=None, access_log=settings.log_level == "DEBUG")
    return 0
