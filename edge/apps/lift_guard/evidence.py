"""Evidence kept on the device: one JPEG (with boxes) per block plus a small JSON record, purged after the
retention time (PIPL: evidence is kept as long as needed, default 30 days, then deleted).

Layout: ``<data_dir>/snapshots/<YYYYMMDD>/<block_id>.jpg`` and ``….json`` (UTC day folders, so a purge deletes
whole folders). The same JPEG goes to the server as the block event's blob.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    block_id: str
    day: str
    data: dict[str, Any]
    jpeg: Path | None

    @property
    def started(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.data["started"])
        except (KeyError, TypeError, ValueError):
            return None


class EvidenceStore:
    def __init__(self, root: Path, retention_days: int) -> None:
        self.root = root
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self.root.mkdir(parents=True, exist_ok=True)

    def _dir(self, when: datetime) -> Path:
        return self.root / when.astimezone(UTC).strftime("%Y%m%d")

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def save_block(self, block_id: str, when: datetime, jpeg: bytes | None, data: dict[str, Any]) -> Record:
        """Write a block's snapshot and record. Disk errors are logged, never raised (the block goes on)."""
        d = self._dir(when)
        rec = {**data, "block_id": block_id, "started": when.astimezone(UTC).isoformat()}
        path = None
        try:
            with self._lock:
                d.mkdir(parents=True, exist_ok=True)
                if jpeg:
                    path = d / f"{block_id}.jpg"
                    self._write(path, jpeg)
                self._write(d / f"{block_id}.json", json.dumps(rec, ensure_ascii=False).encode())
        except OSError as exc:
            log.error("evidence: could not store block %s: %s", block_id, exc)
        return Record(block_id, d.name, rec, path)

    def update_block(self, block_id: str, when: datetime, **changes: Any) -> None:
        path = self._dir(when) / f"{block_id}.json"
        try:
            with self._lock:
                data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"block_id": block_id}
                data.update(changes)
                self._write(path, json.dumps(data, ensure_ascii=False).encode())
        except (OSError, ValueError) as exc:
            log.error("evidence: could not update block %s: %s", block_id, exc)

    def recent(self, limit: int = 10) -> list[Record]:
        """The newest block records, newest first."""
        out: list[Record] = []
        if not self.root.exists():
            return out
        for d in sorted((p for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()), reverse=True):
            for j in sorted(d.glob("*.json"), reverse=True):
                try:
                    data = json.loads(j.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                jpg = j.with_suffix(".jpg")
                out.append(Record(j.stem, d.name, data, jpg if jpg.exists() else None))
                if len(out) >= limit:
                    return out
        return out

    def purge(self, now: datetime | None = None) -> int:
        """Delete day folders older than the retention time; returns how many folders went."""
        now = now or datetime.now(UTC)
        cutoff = (now - timedelta(days=self.retention_days)).strftime("%Y%m%d")
        gone = 0
        if not self.root.exists():
            return 0
        for d in self.root.iterdir():
            if d.is_dir() and d.name.isdigit() and len(d.name) == 8 and d.name < cutoff:
                shutil.rmtree(d, ignore_errors=True)
                gone += 1
        if gone:
            log.info("evidence: purged %d day folder(s) older than %d days", gone, self.retention_days)
        return gone

    def usage(self) -> tuple[int, int]:
        """(files, bytes) kept."""
        files = size = 0
        for p in self.root.rglob("*.jpg"):
            try:
                size += p.stat().st_size
                files += 1
            except OSError:
                continue
        return files, size
