"""Login sessions for the pages: a random token in an HttpOnly, SameSite=Lax cookie; the database keeps only its
sha256, the user, a CSRF token for forms, and idle/absolute expiry (so sessions survive a server restart and work
across workers)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from linli.contract import utcnow
from server.db.engine import Database
from server.users.models import WebSession

COOKIE = "linli_session"
TOUCH_EVERY = timedelta(seconds=60)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    user_name: str
    csrf: str
    expires_at: datetime


class SessionStore:
    def __init__(self, db: Database, idle_min: float, max_h: float) -> None:
        self.db = db
        self.idle = timedelta(minutes=idle_min)
        self.max = timedelta(hours=max_h)

    def create(self, user_name: str, ip: str | None = None, user_agent: str | None = None) -> tuple[str, SessionInfo]:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = WebSession(token_sha256=_sha(token), user_name=user_name, csrf=secrets.token_urlsafe(24),
                         created_at=now, last_seen_at=now, expires_at=now + self.max, ip=(ip or "")[:64] or None,
                         user_agent=(user_agent or "")[:255] or None)
        with self.db.session() as s:
            s.add(row)
        return token, SessionInfo(user_name, row.csrf, row.expires_at)

    def lookup(self, token: str) -> SessionInfo | None:
        """The live session for ``token`` (idle and absolute expiry checked; last-seen refreshed once a minute)."""
        if not token or len(token) > 128:
            return None
        now = utcnow()
        key = _sha(token)
        with self.db.session() as s:
            row = s.get(WebSession, key)
            if row is None:
                return None
            if row.expires_at <= now or row.last_seen_at + self.idle <= now:
                s.delete(row)
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                s.execute(update(WebSession).where(WebSession.token_sha256 == key).values(last_seen_at=now))
            return SessionInfo(row.user_name, row.csrf, row.expires_at)

    def delete(self, token: str) -> None:
        with self.db.session() as s:
            s.execute(delete(WebSession).where(WebSession.token_sha256 == _sha(token)))

    def purge(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        with self.db.session() as s:
            res = s.execute(delete(WebSession).where((WebSession.expires_at <= now)
                                                     | (WebSession.last_seen_at <= now - self.idle)))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def count(self, user_name: str) -> int:
        with self.db.session() as s:
            return len(list(s.scalars(select(WebSession.token_sha256).where(WebSession.user_name == user_name))))
