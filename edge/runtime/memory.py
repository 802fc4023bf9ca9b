"""Give back the library pages that only start-up used.

A Python agent maps ~70 MB of shared libraries (onnxruntime, OpenCV with its FFmpeg, numpy, libpython, ...). While
it starts, the imports and the first model run touch much of that code once (the kernel maps 64 KB around every
page fault), and those pages stay counted in the process's RSS for as long as it runs, although a lift guard then
runs the same small loop (capture, detect, track) for months: about 13 MB of its library pages are referenced in
a running minute (``bench/lift_guard.py`` prints the working set).

Some time after start-up, :func:`release_startup_pages` asks the kernel to reclaim the pages of the agent's
**read-only, file-backed** mappings (``madvise(MADV_PAGEOUT)``, Linux ≥ 5.4). Those pages are clean copies of files
on disk: nothing is lost. The ones the loop still uses come straight back on their next use (from the page cache,
or the SD card), and the rest no longer take memory from the device. Writable mappings (data, heap, the copied
parts of libraries) and device memory (``/dev/...``) are never touched. Where the kernel does not have
``MADV_PAGEOUT`` nothing happens.

Measured here (``python bench/lift_guard.py``, lift agent at 5 fps): see models/MODELS.md §3.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MADV_PAGEOUT = 21  # linux/mman-common.h
PROC = Path("/proc/self")


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    rss_kb: int

    @property
    def releasable(self) -> bool:
        """Read-only and backed by a file (not a device's memory, e.g. ``/dev/gpiomem``): its pages can always be read
        again from that file."""
        return (self.path.startswith("/") and not self.path.startswith("/dev/") and "w" not in self.perms
                and self.end > self.start)


@dataclass(frozen=True)
class Released:
    mappings: int  # read-only file mappings advised
    failed: int  # mappings the kernel refused (no MADV_PAGEOUT on this kernel: all of them)
    before_kb: int  # their resident KB before
    after_kb: int  # and right after

    @property
    def released_mb(self) -> float:
        return max(0, self.before_kb - self.after_kb) / 1024


def mappings(smaps: Path = PROC / "smaps") -> list[Mapping]:
    """The process's mappings with their resident KB, from ``/proc/self/smaps``."""
    out: list[Mapping] = []
    head: tuple[int, int, str, str] | None = None
    rss = 0
    for line in smaps.read_text(encoding="utf-8", errors="replace").splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if first and not first.endswith(":") and "-" in first:
            if head is not None:
                out.append(Mapping(*head, rss))
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            head, rss = (lo, hi, parts[1], parts[5].strip() if len(parts) > 5 else ""), 0
        elif first == "Rss:":
            rss = int(line.split()[1])
    if head is not None:
        out.append(Mapping(*head, rss))
    return out


def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """libc's ``madvise``, from the libraries this process already has loaded (no ``ldconfig`` run)."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "madvise", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        fn.restype = ctypes.c_int
    return fn


def release_startup_pages(smaps: Path = PROC / "smaps") -> Released:
    """Ask the kernel to reclaim the pages of every read-only file mapping of this process (see the module)."""
    madvise = _madvise()
    targets = [m for m in mappings(smaps) if m.releasable]
    failed = 0
    for m in targets:
        if madvise is None or madvise(m.start, m.end - m.start, MADV_PAGEOUT) != 0:
            failed += 1
    ranges = {(m.start, m.end) for m in targets}
    after = sum(m.rss_kb for m in mappings(smaps) if (m.start, m.end) in ranges)
    return Released(len(targets), failed, sum(m.rss_kb for m in targets), after)


class StartupRelease:
    """Calls :func:`release_startup_pages` once, ``after_s`` after :meth:`start` (0: never)."""

    def __init__(self, after_s: float, stopping: threading.Event) -> None:
        self.after_s = after_s
        self.stopping = stopping
        self.result: Released | None = None
        self._thread = threading.Thread(target=self._run, name="memory", daemon=True)

    def start(self) -> None:
        if self.after_s > 0:
            self._thread.start()

    def _run(self) -> None:
        if self.stopping.wait(self.after_s):
            return
        try:
            self.result = release_startup_pages()
        except OSError as exc:  # no /proc (not Linux): nothing to give back
            log.info("start-up pages not released: %s", exc)
            return
        r = self.result
        log.info("gave back %.1f MB of library pages used only at start-up (%d read-only mappings, %d refused)",
                 r.released_mb, r.mappings, r.failed)
