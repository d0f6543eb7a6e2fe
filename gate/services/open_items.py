"""Open items a handover must list: later features register providers here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gate.models import Post
from gate.models.types import utcnow
from gate.services import journal


@dataclass(frozen=True)
class OpenItem:
    """Something the incoming guard must know is still open."""

    kind: str
    title: str
    due_at: datetime | None = None
    overdue: bool = False


Provider = Callable[[Post], list[OpenItem]]
_providers: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Add (or replace) a named provider of open items, e.g. visitors still inside."""
    _providers[name] = provider


def unregister(name: str) -> None:
    """Remove a provider (tests and plug-ins that unload)."""
    _providers.pop(name, None)


def collect(post: Post) -> list[OpenItem]:
    """Every open item at this post, from every provider, overdue first."""
    items: list[OpenItem] = []
    for provider in list(_providers.values()):
        items.extend(provider(post))
    return sorted(items, key=lambda i: (not i.overdue, i.due_at is None, i.due_at or utcnow()))


def _follow_ups(post: Post) -> list[OpenItem]:
    """Promises (时效制) still open at this post or site-wide."""
    now = utcnow()
    rows = journal.open_follow_ups(post.site_id, post.id)
    return [OpenItem("follow_up", row.title, row.due_at, bool(row.due_at and row.due_at < now))
            for row in rows]


register("follow_ups", _follow_ups)
