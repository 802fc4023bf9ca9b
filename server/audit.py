"""The audit log: who did what, to what, when, and how it ended — and on which site, so that a user limited to
some sites sees only their entries (``visible_audit``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from linli.contract import NAME_RE, Kind, utcnow
from server.db.models import AuditLog
from server.db.types import json_safe

if TYPE_CHECKING:
    from server.auth import User

AuditResult = Literal["ok", "error", "denied"]
_KINDS = frozenset(k.value for k in Kind)


def site_of_target(session: Session, target: str) -> str | None:
    """The site a target names: ``gate/<site>/…``, ``workorder/<id>`` (the order's site), a device key
    ``<site>/<kind>/<device>…`` or a bare site; ``user/…`` and anything else: none."""
    parts = target.split("/")
    head = parts[0]
    if head == "gate" and len(parts) > 1 and NAME_RE.fullmatch(parts[1]):
        return parts[1]
    if head == "workorder" and len(parts) > 1 and parts[1].isdigit():
        from server.workorders.models import WorkOrder

        wo = session.get(WorkOrder, int(parts[1]))
        return wo.site if wo is not None else None
    if head == "user" or not NAME_RE.fullmatch(head):
        return None
    if len(parts) == 1 or parts[1] in _KINDS:
        return head
    return None


def audit(session: Session, who: str, action: str, target: str, result: AuditResult = "ok",
          site: str | None = None, **detail: Any) -> AuditLog:
    """Add an audit row to ``session`` (committed with the caller's transaction). ``site``: the site concerned;
    left out, it is read from ``target`` (``site_of_target``)."""
    row = AuditLog(at=utcnow(), who=who[:64], action=action[:64], target=target[:255], result=result,
                   detail=json_safe(detail), site=(site if site is not None else site_of_target(session, target)))
    session.add(row)
    return row


def visible_audit(stmt: Select, user: User) -> Select:  # type: ignore[type-arg]
    """Entries a user may read: every one for a user of every site; otherwise those of the user's sites and the
    user's own entries that concern no site (their sign-ins, their password)."""
    if user.sites is None:
        return stmt
    return stmt.where(or_(AuditLog.site.in_(sorted(user.sites)),
                          and_(AuditLog.site.is_(None), AuditLog.who == user.name)))
