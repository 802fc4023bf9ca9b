"""Checks made before an agent builds anything: each problem is one line naming what and where, and the agent
exits with code 2 instead of starting without a part it needs (or dying later with a traceback).

Covered here for every kind: the MQTT secret file, the TLS CA file, the local page's port, password file and
HTTPS certificate, and the data folder with its outbox. A kind adds its own (ports it listens on, model files)
with ``App.preflight(cfg)``; the helpers below do the checking.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from linli.ports import port_problem
from linli.provision import read_credentials
from linli.tls import check_cert_pair, client_context

from .config import LoadedConfig


class StartupError(RuntimeError):
    """A part the device needs cannot start. ``str()`` is the one line to show."""


def file_problem(path: Path | str, what: str) -> str | None:
    """None when ``path`` is a readable, non-empty file; else why not."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            if not fh.read(1):
                return f"{what}: {p} is empty"
    except FileNotFoundError:
        return f"{what}: {p} does not exist"
    except IsADirectoryError:
        return f"{what}: {p} is a folder, not a file"
    except OSError as exc:
        return f"{what}: {p} cannot be read ({exc.strerror or exc})"
    return None


def sqlite_problem(path: Path, what: str) -> str | None:
    """None when ``path`` is missing (it will be made) or opens as SQLite; a damaged file is *not* a problem
    here for the outbox (it is moved aside and its loss reported), only an unreadable one."""
    if not path.exists():
        return None
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{what}: {path} cannot be read and written by this user"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.close()
    except sqlite3.Error as exc:
        return f"{what}: {path} cannot be opened ({exc})"
    return None


def check(loaded: LoadedConfig) -> list[str]:
    """Every problem found, one line each, prefixed with the config file."""
    a = loaded.agent
    out: list[str] = []
    if a.mqtt.password_file is not None:
        try:
            read_credentials(a.mqtt.password_file)
        except ValueError as exc:
            out.append(f"mqtt.password_file: {exc}")
    if a.mqtt.tls is not None:
        try:
            client_context(a.mqtt.tls.ca_file)
        except (ValueError, OSError) as exc:  # ssl.SSLError is an OSError: not a PEM certificate
            out.append(f"mqtt.tls.ca_file: {exc}")
    lp = a.local_page
    if lp.enabled:
        if (p := port_problem(lp.host, lp.port, "local_page.port")) is not None:
            out.append(p)
        if lp.password_file is not None and (p := file_problem(lp.password_file, "local_page.password_file")):
            out.append(p)
        if lp.tls_cert_file is not None and lp.tls_key_file is not None:
            try:
                check_cert_pair(lp.tls_cert_file, lp.tls_key_file)
            except ValueError as exc:
                out.append(f"local_page.tls_cert_file: {exc}")
    try:
        a.data_dir.mkdir(parents=True, exist_ok=True)
        probe = a.data_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        out.append(f"data_dir: {a.data_dir} cannot be written ({exc.strerror or exc})")
    else:
        if (p := sqlite_problem(a.outbox_path, "outbox.path")) is not None:
            out.append(p)
    hook = getattr(loaded.app_class, "preflight", None)
    if hook is not None:
        out += list(hook(loaded.app_cfg))
    return [f"{loaded.source}: {line}" for line in out]
