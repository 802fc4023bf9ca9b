"""Privacy rules (PIPL, design §7) for pages and APIs: who may see licence plates and snapshots.

Plates and snapshots are personal data. Property managers need them (gate lists, fees, evidence of a blocked
e-bike); maintenance staff fix devices and see neither: plates are masked (``沪A·***45``) and snapshot links are
left out. Kind engineers use these three helpers wherever a plate or a snapshot reaches a user::

    from server.auth import can_see_plates, can_see_snapshots, mask_plate
    plate = p.plate if can_see_plates(user) else mask_plate(p.plate)
"""

from __future__ import annotations

from typing import Any

from server.auth import User

#: roles that may see full plates / snapshot images
PLATE_ROLES = frozenset({"admin", "manager"})
SNAPSHOT_ROLES = frozenset({"admin", "manager"})
#: keys in event data that hold a plate (masked in API answers and pages for users who may not see plates)
PLATE_KEYS = frozenset({"plate", "plates", "plate_no", "plate_number", "licence_plate", "license_plate"})


def can_see_plates(user: User) -> bool:
    return user.role in PLATE_ROLES


def can_see_snapshots(user: User) -> bool:
    return user.role in SNAPSHOT_ROLES


def mask_plate(plate: str | None) -> str:
    """``沪A12345`` → ``沪A***45``: province and letter (the issuing city) and the last two characters stay, so
    staff can still tell cars apart in a list; short or odd values become ``***``."""
    if not plate:
        return ""
    p = "".join(plate.split())
    if len(p) < 5:
        return "***"
    return f"{p[:2]}{'*' * (len(p) - 4)}{p[-2:]}"


def mask_data(data: Any, user: User) -> Any:
    """A copy of event data with every plate-like value masked for users who may not see plates."""
    if can_see_plates(user):
        return data
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in PLATE_KEYS and isinstance(v, str):
                out[k] = mask_plate(v)
            elif k in PLATE_KEYS and isinstance(v, list):
                out[k] = [mask_plate(x) if isinstance(x, str) else x for x in v]
            else:
                out[k] = mask_data(v, user)
        return out
    if isinstance(data, list):
        return [mask_data(x, user) for x in data]
    return data
