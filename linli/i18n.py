"""Language and time display shared by every page and message: Simplified Chinese first, English available;
times stored in UTC, shown in Asia/Shanghai."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def pick_lang(query: str | None = None, cookie: str | None = None, accept_language: str | None = None) -> Lang:
    """?lang= wins, then the cookie, then the browser's Accept-Language if it prefers English; else Chinese."""
    for cand in (query, cookie):
        if cand in LANGS:
            return cand  # type: ignore[return-value]
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return DEFAULT_LANG


class Catalog:
    """Message catalogue: key → (zh, en). Missing keys fail loudly in tests, not silently on a screen."""

    def __init__(self, messages: Mapping[str, tuple[str, str]]) -> None:
        self.messages = dict(messages)

    def t(self, key: str, lang: Lang = DEFAULT_LANG, **kw: object) -> str:
        zh, en = self.messages[key]
        text = en if lang == "en" else zh
        return text.format(**kw) if kw else text

    def bind(self, lang: Lang):
        return lambda key, **kw: self.t(key, lang, **kw)

    def merged(self, other: Mapping[str, tuple[str, str]]) -> Catalog:
        return Catalog({**self.messages, **other})


def to_local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:  # naive values from the database are UTC by convention
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(SHANGHAI)


def fmt_time(dt: datetime | None, seconds: bool = True) -> str:
    """A UTC instant as Shanghai wall-clock time, e.g. ``2026-11-21 20:15:03``."""
    local = to_local(dt)
    if local is None:
        return "—"
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def fmt_ago(dt: datetime | None, lang: Lang = DEFAULT_LANG, now: datetime | None = None) -> str:
    if dt is None:
        return "—" if lang == "zh" else "never"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    s = max(0, int(((now or datetime.now(UTC)) - dt).total_seconds()))
    if s < 60:
        return f"{s} 秒前" if lang == "zh" else f"{s} s ago"
    if s < 3600:
        return f"{s // 60} 分钟前" if lang == "zh" else f"{s // 60} min ago"
    if s < 86400:
        return f"{s // 3600} 小时前" if lang == "zh" else f"{s // 3600} h ago"
    return f"{s // 86400} 天前" if lang == "zh" else f"{s // 86400} d ago"
