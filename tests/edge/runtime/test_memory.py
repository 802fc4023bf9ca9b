"""Giving back start-up pages (edge/runtime/memory.py): only read-only file pages go, nothing is lost."""

from __future__ import annotations

import mmap
import os
import threading
import time
from pathlib import Path

import pytest

from edge.runtime import memory
from edge.runtime.config import AgentConfig

PAGE = mmap.PAGESIZE
MB = 1024 * 1024

SMAPS = """\
7f0000000000-7f0000400000 r-xp 00000000 fd:01 1234                       /usr/lib/libx.so
Size:               4096 kB
Rss:                1500 kB
Anonymous:             0 kB
7f0000400000-7f0000401000 rw-p 00400000 fd:01 1234                       /usr/lib/libx.so
Size:                  4 kB
Rss:                   4 kB
55d000000000-55d000100000 rw-p 00000000 00:00 0                          [heap]
Size:               1024 kB
Rss:                 800 kB
7f1000000000-7f1000002000 r--p 00000000 00:00 0
Size:                  8 kB
Rss:                   8 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
7f2000000000-7f2000010000 r--p 00000000 fd:01 99                         /data/model with space.onnx
Rss:                  64 kB
7f3000000000-7f3000001000 r--s 00000000 00:05 7                          /dev/gpiomem
Rss:                   4 kB
"""


def test_smaps_parsed_and_only_read_only_files_releasable(tmp_path: Path) -> None:
    f = tmp_path / "smaps"
    f.write_text(SMAPS, encoding="utf-8")
    maps = memory.mappings(f)
    assert [(m.start, m.end, m.perms, m.path, m.rss_kb) for m in maps] == [
        (0x7F0000000000, 0x7F0000400000, "r-xp", "/usr/lib/libx.so", 1500),
        (0x7F0000400000, 0x7F0000401000, "rw-p", "/usr/lib/libx.so", 4),
        (0x55D000000000, 0x55D000100000, "rw-p", "[heap]", 800),
        (0x7F1000000000, 0x7F1000002000, "r--p", "", 8),
        (0x7FFD00000000, 0x7FFD00002000, "r-xp", "[vdso]", 4),
        (0x7F2000000000, 0x7F2000010000, "r--p", "/data/model with space.onnx", 64),
        (0x7F3000000000, 0x7F3000001000, "r--s", "/dev/gpiomem", 4),
    ]
    assert [m.releasable for m in maps] == [True, False, False, False, False, True, False]


def _kernel() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _find(path: Path) -> memory.Mapping:
    return next(m for m in memory.mappings() if m.path == str(path))


@pytest.fixture()
def big_file() -> Path:
    # on the disk, not a tmpfs: a tmpfs page has no file to be read back from, and without swap it stays
    d = Path(__file__).resolve().parents[3] / "var" / "test-memory"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"pages-{os.getpid()}.bin"
    p.write_bytes(os.urandom(16 * MB))
    yield p
    p.unlink(missing_ok=True)


def test_read_only_file_pages_are_given_back_and_read_again(big_file: Path) -> None:
    want = big_file.read_bytes()
    with big_file.open("rb") as fh:
        ro = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
        try:
            checksum = sum(ro[i] for i in range(0, len(ro), PAGE))  # every page resident
            before = _find(big_file).rss_kb
            assert before >= 15 * 1024
            released = memory.release_startup_pages()
            after = _find(big_file).rss_kb
            if _kernel() < (5, 4):
                pytest.skip("MADV_PAGEOUT came with Linux 5.4")
            assert released.failed == 0, released
            assert after < before / 4, (before, after)
            assert released.released_mb >= 10
            # nothing is lost: the pages come back from the file on their next use
            assert sum(ro[i] for i in range(0, len(ro), PAGE)) == checksum
            assert ro[:] == want
        finally:
            ro.close()


def test_written_pages_are_never_dropped(big_file: Path) -> None:
    """A private writable mapping holds changes that exist nowhere else: it must keep them."""
    with big_file.open("r+b") as fh:
        rw = mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            for i in range(0, len(rw), PAGE):
                rw[i] = (rw[i] + 1) % 256
            mine = bytes(rw[:])
            before = _find(big_file).rss_kb
            memory.release_startup_pages()
            assert _find(big_file).rss_kb >= before - 64  # the written pages stay
            assert rw[:] == mine
        finally:
            rw.close()
    heap = bytearray(os.urandom(4 * MB))
    copy = bytes(heap)
    memory.release_startup_pages()
    assert heap == copy


def test_startup_release_runs_once_after_its_delay() -> None:
    stopping = threading.Event()
    r = memory.StartupRelease(0.05, stopping)
    r.start()
    deadline = time.monotonic() + 5
    while r.result is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.result is not None and r.result.mappings > 0


def test_startup_release_off_or_stopped_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "release_startup_pages", lambda: calls.append(1))
    off = memory.StartupRelease(0, threading.Event())
    off.start()
    assert not off._thread.is_alive() and off._thread.ident is None  # never started
    stopping = threading.Event()
    stopped = memory.StartupRelease(0.2, stopping)
    stopped.start()
    stopping.set()
    stopped._thread.join(2)
    assert not stopped._thread.is_alive()
    assert calls == [] and off.result is None and stopped.result is None


def test_agents_give_back_start_up_pages_by_default() -> None:
    cfg = AgentConfig.model_validate({"site": "s1", "kind": "lift_guard", "device": "d1",
                                      "mqtt": {"host": "localhost", "password_env": "X"},
                                      "local_page": {"enabled": False}})
    assert cfg.memory.release_startup_pages_after_s == 30.0
