"""Content-addressed snapshot files: ``<snapshots>/<sha[:2]>/<sha>.jpg``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from linli.contract import SHA256_RE


class SnapshotStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not SHA256_RE.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.jpg"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def write(self, sha256: str, data: bytes) -> Path:
        """Write atomically (temp file, fsync, rename); an existing file is kept as it is (same content)."""
        path = self.path(sha256)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def files(self) -> Iterator[Path]:
        if not self.root.exists():
            return
        for sub in self.root.iterdir():
            if sub.is_dir():
                yield from (p for p in sub.iterdir() if p.is_file())
