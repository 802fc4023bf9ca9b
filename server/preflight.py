"""Checks made before the server starts anything: the HTTP port, the HTTPS certificate, the broker CA file and
the database. Each problem is one line naming what and where; ``linli server`` then exits with code 2 instead
of printing a traceback from deep inside uvicorn or SQLAlchemy."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from linli.ports import port_problem
from linli.tls import check_cert_pair, client_context
from server.settings import Settings


def sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def database_problem(settings: Settings) -> str | None:
    path = sqlite_file(settings.database.url)
    if path is None:
        return None  # PostgreSQL: reported by the connection itself
    if not path.exists():
        return None if path.parent.exists() or _mkdir(path.parent) else \
            f"database.url: folder {path.parent} cannot be created"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(3)")]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"database.url: {path} is not a usable SQLite database ({exc}); restore it from a backup"
    if problems != ["ok"]:
        return f"database.url: {path} is damaged ({'; '.join(problems)[:200]}); restore it from a backup"
    return None


def _mkdir(p: Path) -> bool:
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return True


def check(settings: Settings) -> list[str]:
    out: list[str] = []
    h = settings.http
    if (p := port_problem(h.host, h.port, "http.port")) is not None:
        out.append(p)
    if h.tls_cert_file is not None and h.tls_key_file is not None:
        try:
            check_cert_pair(h.tls_cert_file, h.tls_key_file)
        except ValueError as exc:
            out.append(f"http.tls_cert_file: {exc}")
    if settings.mqtt.tls_ca_file is not None:
        try:
            client_context(settings.mqtt.tls_ca_file)
        except (ValueError, OSError) as exc:
            out.append(f"mqtt.tls_ca_file: {exc}")
    if (p := database_problem(settings)) is not None:
        out.append(p)
    return out


def bind(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn serves on (bound here, so nothing can take the port in between)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
