"""Tables of people: user accounts (argon2 hashes, role, sites) and login sessions for the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base


class UserAccount(Base):
    """A person who signs in. ``sites`` None: every site. Users from the settings are copied in at start-up
    (bootstrap) when no account of that name exists; after that the database is what counts."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), doc="admin | manager | maintenance")
    sites: Mapped[list[Any] | None] = mapped_column(doc="site names this user sees; null = every site")
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    password_changed_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its sha256 is stored."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64), doc="per-session token every form and cookie API write must echo")
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_web_sessions_user_name", "user_name"),
                      Index("ix_web_sessions_expires_at", "expires_at"))
