"""One logging set-up for every linli process (agent, server, demo children).

Three formats, chosen by the ``LINLI_LOG_FORMAT`` environment variable (or the caller):

- ``text`` (default at a terminal): ``2026-12-05 08:00:00,123 INFO name: message``;
- ``journal``: no timestamp and a ``<N>`` syslog priority prefix, because journald stamps every line itself (chosen
  automatically when ``JOURNAL_STREAM`` says stderr goes to the journal, as under our systemd units);
- ``json``: one JSON object a line (``ts`` UTC ISO-8601, ``level``, ``logger``, ``msg``, ``exc`` when there is one) for
  log shippers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "journal", "json"]
FORMATS: tuple[str, ...] = ("text", "journal", "json")

# sd-daemon(3) priorities: journald reads "<N>" at the start of a line as the message's priority.
_SD_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = _SD_PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        text = super().format(record)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines())


def detect_format(env: dict[str, str] | None = None) -> LogFormat:
    """The format the environment asks for: ``LINLI_LOG_FORMAT``, else ``journal`` under journald, else ``text``."""
    env = dict(os.environ) if env is None else env
    wanted = env.get("LINLI_LOG_FORMAT", "").strip().lower()
    if wanted in FORMATS:
        return wanted  # type: ignore[return-value]
    if wanted:
        raise ValueError(f"LINLI_LOG_FORMAT={wanted!r}: use one of {', '.join(FORMATS)}")
    return "journal" if env.get("JOURNAL_STREAM") else "text"


def formatter(fmt: LogFormat) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "journal":
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def setup_logging(level: str | int = "INFO", fmt: LogFormat | None = None) -> LogFormat:
    """Configure the root logger once for this process; returns the format used."""
    chosen = fmt or detect_format()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(chosen))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else getattr(logging, str(level).upper()))
    return chosen
