"""The work-order life-cycle: states, who may take which step, and the mapping to Shanghai's case flow.

    received ──dispatch(assignee)──▶ dispatched ──handle(note, photos)──▶ handled ──verify──▶ verified ──close──▶ closed
        │  ▲ re-dispatch                 ▲                                     │   reject(reason)     │
        │  └──────────────┘              └─────────────────────────────────────┴──────────────────────┘
        └──cancel(reason: false alarm / duplicate)──▶ closed        (also from dispatched)

Shanghai grid case flow (受理 → 立案 → 派遣 → 处置 → 督办 → 核查 → 结案), step by step:
  受理 received  — the order opens (an alarm, an offline device, or a person).
  立案 filed     — the same moment for device alarms: a device's own alarm is a verified fact, so it is filed on
                   receipt (``created_at``); people's reports are filed by whoever creates them.
  派遣 dispatched — assigned to a maintenance worker (respond SLA, default 30 min).
  处置 handled    — the worker's note and photos (fix SLA, default 24 h).
  督办 supervised — not a state of its own: when a deadline passes the order is marked overdue (``escalated_at``),
                   shown red on every page and pushed as a notification; it stays in the step it is in.
  核查 verified   — a manager checks the fix (or rejects it back to dispatched with a reason).
  结案 closed     — closed by a manager; the device/fault pair can then open a new order.

Like ThingsBoard alarms, an order can also be **acknowledged** (a maintainer or manager takes it: dispatched to
themselves) and **cleared** (a manager closes it at any open step because the fault is gone).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.auth import User

OPEN_STATES = ("received", "dispatched", "handled", "verified")
STATES = (*OPEN_STATES, "closed")
SEVERITY_RANK = {"info": 0, "warning": 1, "alarm": 2}
MANAGERS = frozenset({"admin", "manager"})


@dataclass(frozen=True)
class Step:
    name: str
    from_states: tuple[str, ...]
    to_state: str | None          # None: stays where it is (notes)
    roles: frozenset[str]
    needs: tuple[str, ...] = ()   # form fields that must not be empty


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("dispatch", ("received", "dispatched"), "dispatched", MANAGERS, ("assignee",)),
    Step("handle", ("dispatched",), "handled", frozenset({"admin", "manager", "maintenance"}), ("note",)),
    Step("verify", ("handled",), "verified", MANAGERS),
    Step("reject", ("handled", "verified"), "dispatched", MANAGERS, ("reason",)),
    Step("close", ("verified",), "closed", MANAGERS),
    Step("cancel", ("received", "dispatched"), "closed", MANAGERS, ("reason",)),
    Step("note", OPEN_STATES, None, frozenset({"admin", "manager", "maintenance"}), ("note",)),
    # like ThingsBoard alarms: acknowledge = "seen, I take it" (dispatched to oneself); clear = the fault is gone
    Step("acknowledge", ("received",), "dispatched", frozenset({"admin", "manager", "maintenance"})),
    Step("clear", OPEN_STATES, "closed", MANAGERS),
)}


def allowed_steps(state: str, user: User, assignee: str | None) -> list[str]:
    """The steps ``user`` may take on an order in ``state`` (maintenance staff handle only their own orders)."""
    out = []
    for step in STEPS.values():
        if state not in step.from_states or user.role not in step.roles:
            continue
        if step.name == "handle" and user.role == "maintenance" and assignee != user.name:
            continue
        out.append(step.name)
    return out
