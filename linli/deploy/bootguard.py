#!/usr/bin/env python3
"""Boot guard for A/B updates: runs before every agent start (``ExecStartPre=`` of ``linli-agent@.service``).

It uses the standard library only and lives outside the release slots (``/opt/linli/bootguard.py``), so a release
that cannot even start cannot break it. After an update switches ``/opt/linli/current`` to the new slot, the
updater leaves ``<state>/update/pending.json`` (version, from/to slot, deadline, attempts). Each start counts an
attempt; when the new release has been started ``max_attempts`` times without declaring itself healthy (it crashes
at start, or the watchdog keeps killing it), or its deadline has passed, the guard switches ``current`` back to the
slot that was running before and writes ``result.json`` for the old release to report (``rolled back`` + why).

    python3 bootguard.py /var/lib/linli/<device> [/opt/linli]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def switch(prefix: Path, slot: str) -> None:
    current = prefix / "current"
    tmp = prefix / "current.guard.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path("slots") / slot)
    os.replace(tmp, current)


def guard(state_dir: Path, prefix: Path, now: float | None = None) -> str:
    """One pre-start check; returns what it did (for the log and the tests)."""
    now = time.time() if now is None else now
    pending_path = state_dir / "update" / "pending.json"
    try:
        pending = json.loads(pending_path.read_text())
    except FileNotFoundError:
        return "no update pending"
    except (OSError, ValueError):
        pending_path.unlink(missing_ok=True)
        return "unreadable pending update removed"
    pending["attempts"] = int(pending.get("attempts", 0)) + 1
    too_many = pending["attempts"] > int(pending.get("max_attempts", 3))
    too_late = now > float(pending.get("deadline", 0))
    if not (too_many or too_late):
        tmp = pending_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(pending))
        os.replace(tmp, pending_path)
        return f"starting {pending.get('version')} (attempt {pending['attempts']})"
    reason = (f"did not become healthy after {pending['attempts'] - 1} starts" if too_many
              else "not healthy before its deadline")
    switch(prefix, str(pending["from_slot"]))
    result = {"version": pending.get("version"), "from_version": pending.get("from_version"),
              "state": "rolled_back", "reason": reason, "ts": now,
              "rollout": pending.get("rollout")}
    (state_dir / "update" / "result.json").write_text(json.dumps(result))
    pending_path.unlink(missing_ok=True)
    return f"rolled back {pending.get('version')} → slot {pending['from_slot']}: {reason}"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: bootguard.py STATE_DIR [PREFIX]", file=sys.stderr)
        return 2
    prefix = Path(argv[2]) if len(argv) > 2 else Path("/opt/linli")
    try:
        print(f"linli boot guard: {guard(Path(argv[1]), prefix)}", file=sys.stderr)
    except Exception as exc:  # never keep the agent from starting
        print(f"linli boot guard: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
