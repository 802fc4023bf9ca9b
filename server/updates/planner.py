"""Staged roll-out rules, as pure code.

A roll-out orders its devices once (site, kind, device id) and goes out in cumulative stages, e.g. ``[1, 0.1, 1.0]``:
first one device, then 10 % of the fleet, then all. A stage is finished when every device in it is up to date
(``healthy`` or already ``current``); only then does the next stage start. Inside a stage at most ``max_parallel``
devices update at once. The roll-out **halts** as soon as ``max_failures`` devices have failed (refused the release,
rolled back, or not answered within the step time-out): a bad release never reaches the next stage. Devices that are
offline wait (they get the update when they are back); they do not count as failures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

IN_FLIGHT = frozenset({"sent", "downloading", "verified", "installed"})
OK = frozenset({"healthy", "current"})
FAILED = frozenset({"failed", "rolled_back", "timeout"})
STATES = frozenset({"waiting"}) | IN_FLIGHT | OK | FAILED


def stage_sizes(stages: Sequence[float | int], n: int) -> list[int]:
    """Cumulative device counts per stage, non-decreasing, the last one the whole fleet."""
    out: list[int] = []
    for s in stages:
        if isinstance(s, bool) or not isinstance(s, int | float) or s <= 0:
            raise ValueError(f"stage {s!r}: use a device count ≥ 1 or a share in (0, 1]")
        size = int(s) if isinstance(s, int) or s > 1 else math.ceil(s * n)
        out.append(min(n, max(size, out[-1] if out else 0)))
    if not out or out[-1] < n:
        out.append(n)
    return out


@dataclass
class Decision:
    send: list[int] = field(default_factory=list)     # positions to send the update to now
    state: str = "running"                            # running | halted | done
    stage: int = 0                                    # index of the stage in progress
    reason: str = ""


def plan(states: Sequence[str], online: Sequence[bool], stages: Sequence[float | int], max_parallel: int,
         max_failures: int) -> Decision:
    """What to do now, given each device's state (in roll-out order) and whether it is online."""
    n = len(states)
    failures = [i for i, s in enumerate(states) if s in FAILED]
    sizes = stage_sizes(stages, n) if n else [0]
    if len(failures) >= max_failures:
        return Decision(state="halted", stage=_stage_of(sizes, failures[0]),
                        reason=f"{len(failures)} device(s) failed: stopped before the next stage")
    for k, size in enumerate(sizes):
        if all(states[i] in OK for i in range(size)):
            continue
        in_flight = sum(1 for i in range(size) if states[i] in IN_FLIGHT)
        room = max(0, max_parallel - in_flight)
        send = [i for i in range(size) if states[i] == "waiting" and online[i]][:room]
        return Decision(send=send, stage=k)
    return Decision(state="done", stage=len(sizes) - 1)


def _stage_of(sizes: list[int], pos: int) -> int:
    return next((k for k, size in enumerate(sizes) if pos < size), len(sizes) - 1)
