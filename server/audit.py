"""The audit log: who did what, to what, when, and how it ended."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from linli.contract import utcnow
from server.db.models import AuditLog
from server.db.types import json_safe

AuditResult = Literal["ok", "error", "denied"]


def audit(session: Session, who: str, action: str, target: str, result: AuditResult = "ok",
          **detail: Any) -> AuditLog:
    """Add an audit row to ``session`` (committed with the caller's transaction)."""
    row = AuditLog(at=utcnow(), who=who[:64], action=action[:64], target=target[:255], result=result,
                   detail=json_safe(detail))
    session.add(row)
    return row
