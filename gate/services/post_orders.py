"""Post orders (岗位须知) in the supervisor console: write, change, retire, and who acknowledged.

Standing orders hold until retired; pass-down orders are temporary and always carry an expiry.
A change of title, text or post bumps the revision, so every guard acknowledges it again at
their next shift start (gate.services.shifts.unread_orders compares revisions). Orders are never
deleted: retiring sets the expiry to now and keeps the order for history. Shift-book entries
carry ids, codes and a digest of title and text, never the text itself.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from gate.domain.chain import record_digest
from gate.extensions import db
from gate.models import Post, PostOrder, PostOrderAck, Role, ShiftBookEntry, User
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction

KINDS = {"standing": _("Standing"), "pass_down": _("Pass-down")}
CATEGORIES = {"security": _("Security"), "safety": _("Safety")}
MAX_TITLE = 120
MAX_BODY = 4000
MAX_AHEAD = timedelta(days=366)  # "one year ahead", a leap day included
EDITORS = (Role.SUPERVISOR, Role.ADMIN)
# Changing these makes the order a different order to read: every guard acknowledges it again.
REREAD_FIELDS = ("title", "body", "post_id")
ENTRY_KINDS = ("post_order.created", "post_order.changed", "post_order.retired")


@dataclass(frozen=True)
class Draft:
    """An order's fields as typed (parsed, not yet validated)."""

    kind: str
    category: str
    title: str
    body: str
    post_id: int | None
    expires_at: datetime | None


@dataclass(frozen=True)
class AckRow:
    """One guard's acknowledgement of one order: the last revision they read and when."""

    guard: User
    revision: int | None
    acked_at: datetime | None
    current: bool


def is_active(order: PostOrder, now: datetime | None = None) -> bool:
    """True while guards must read the order (no expiry, or the expiry still ahead)."""
    return order.expires_at is None or order.expires_at > (now or utcnow())


def get(site_id: int, order_id: int) -> PostOrder:
    """An order of this estate; ActionError not_found for another estate's or a missing one."""
    order = db.session.get(PostOrder, order_id)
    if order is None or order.site_id != site_id:
        raise ActionError("not_found", _("That post order does not exist."))
    return order


def posts_of(site_id: int) -> list[Post]:
    """The estate's posts, for the form's choice and the filter."""
    return list(db.session.scalars(select(Post).where(Post.site_id == site_id).order_by(Post.code)))


def list_orders(site_id: int, post_id: int | None = None) -> tuple[list[PostOrder], list[PostOrder]]:
    """(active orders newest first, ended orders most recently ended first); with `post_id`, only
    the orders a guard at that post reads (its own and those for every post)."""
    query = select(PostOrder).where(PostOrder.site_id == site_id)
    if post_id is not None:
        query = query.where((PostOrder.post_id == post_id) | PostOrder.post_id.is_(None))
    now = utcnow()
    rows = list(db.session.scalars(query.order_by(PostOrder.id.desc())))
    active = [o for o in rows if is_active(o, now)]
    ended = sorted((o for o in rows if not is_active(o, now)), key=lambda o: (o.expires_at, o.id),
                   reverse=True)
    return active, ended


def local_expiry(text: str) -> datetime | None:
    """A datetime-local value ("2030-12-31T18:00") read in site time; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_expiry", _("Write the expiry as a date and time, e.g. 2030-12-31 "
                                          "18:00, or leave it empty.")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["GATE_TIMEZONE"]))
    return moment.astimezone(UTC)


def _editor(actor: User) -> None:
    if actor.role not in EDITORS:
        raise ActionError("not_allowed", _("Only a supervisor can do this."))


def _text(value: str, limit: int, *, multiline: bool) -> str | None:
    """Trimmed text, or None when it is over `limit` or holds control characters."""
    text = (value or "").replace("\r\n", "\n").strip()
    allowed = "\n\t" if multiline else ""
    if len(text) > limit or any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        return None
    return text


def _clean(site_id: int, draft: Draft) -> Draft:
    """The draft validated, with trimmed text; one clear ActionError for the first problem."""
    if draft.kind not in KINDS:
        raise ActionError("bad_kind", _("Choose whether the order is standing or pass-down."))
    if draft.category not in CATEGORIES:
        raise ActionError("bad_category", _("Choose the category: security or safety."))
    title = _text(draft.title, MAX_TITLE, multiline=False)
    if title is None:
        raise ActionError("bad_title", _("The title can have at most %(n)d characters, on one line.",
                                         n=MAX_TITLE))
    if not title:
        raise ActionError("title_required", _("Give the order a title."))
    body = _text(draft.body, MAX_BODY, multiline=True)
    if body is None:
        raise ActionError("bad_body", _("The text of the order can have at most %(n)d characters.",
                                        n=MAX_BODY))
    if not body:
        raise ActionError("body_required", _("Write what the guards must do."))
    if draft.post_id is not None:
        post = db.session.get(Post, draft.post_id)
        if post is None or post.site_id != site_id:
            raise ActionError("unknown_post", _("There is no such post at this estate. Choose one from "
                                                "the list."))
    if draft.kind == "pass_down" and draft.expires_at is None:
        raise ActionError("expiry_required", _("A pass-down order is temporary: give it an expiry."))
    if draft.expires_at is not None:
        now = utcnow()
        if draft.expires_at <= now:
            raise ActionError("expiry_past", _("The expiry is in the past. Choose a later time."))
        if draft.expires_at > now + MAX_AHEAD:
            raise ActionError("expiry_too_far", _("The expiry can be at most one year ahead. A "
                                                  "lasting order is standing, without expiry."))
    return Draft(draft.kind, draft.category, title, body, draft.post_id, draft.expires_at)


def digest(order: PostOrder) -> str:
    """SHA-256 of the order's title and text: the shift book proves the wording, not holding it."""
    return record_digest({"title": order.title, "body": order.body})


def _entry(kind: str, order: PostOrder, actor: User, **extra) -> None:
    shiftbook.append(kind, {
        "order_id": order.id, "revision": order.revision, "post_id": order.post_id,
        "kind": order.kind, "category": order.category,
        "expires_at": shiftbook.rfc3339(order.expires_at) if order.expires_at else None,
        "digest": digest(order), **extra}, actor_id=actor.id, post_id=order.post_id)


def create(supervisor: User, kind: str, category: str, title: str, body: str, post_id: int | None,
           expires_at: datetime | None) -> PostOrder:
    """A supervisor issues a new order; every guard reads it at their next shift start."""
    _editor(supervisor)
    clean = _clean(supervisor.site_id, Draft(kind, category, title, body, post_id, expires_at))
    with transaction():
        order = PostOrder(site_id=supervisor.site_id, post_id=clean.post_id, kind=clean.kind,
                          category=clean.category, title=clean.title, body=clean.body,
                          created_by_id=supervisor.id, created_at=utcnow(),
                          expires_at=clean.expires_at, revision=1)
        db.session.add(order)
        db.session.flush()
        _entry("post_order.created", order, supervisor)
    return order


def _same_minute(new: datetime | None, old: datetime | None) -> bool:
    """The form shows the expiry to the minute: an untouched field must not count as a change."""
    if new is None or old is None:
        return new is old
    return new == old.replace(second=0, microsecond=0) or new == old


def change(supervisor: User, order_id: int, kind: str, category: str, title: str, body: str,
           post_id: int | None, expires_at: datetime | None) -> PostOrder:
    """Change an active order; a new title, text or post is a new revision every guard re-reads."""
    _editor(supervisor)
    order = get(supervisor.site_id, order_id)
    if not is_active(order):
        raise ActionError("order_ended", _("This order has ended and is kept for history. Write a "
                                           "new order instead."))
    if _same_minute(expires_at, order.expires_at):
        expires_at = order.expires_at
    clean = _clean(supervisor.site_id, Draft(kind, category, title, body, post_id, expires_at))
    changed = [name for name in ("kind", "category", "title", "body", "post_id", "expires_at")
               if getattr(clean, name) != getattr(order, name)]
    if not changed:
        raise ActionError("unchanged", _("Nothing was changed."))
    with transaction():
        # Locked, so two supervisors saving at once get consecutive revisions, not the same one.
        db.session.refresh(order, with_for_update=True)
        for name in changed:
            setattr(order, name, getattr(clean, name))
        if any(name in REREAD_FIELDS for name in changed):
            order.revision += 1
            order.updated_by_id = supervisor.id
            order.updated_at = utcnow()
        _entry("post_order.changed", order, supervisor, changed=changed)
    return order


def retire(supervisor: User, order_id: int) -> PostOrder:
    """End an order now; it stays listed as ended, with its acknowledgements."""
    _editor(supervisor)
    order = get(supervisor.site_id, order_id)
    if not is_active(order):
        raise ActionError("order_ended", _("This order has already ended."))
    with transaction():
        order.expires_at = utcnow()
        _entry("post_order.retired", order, supervisor)
    return order


def guards_of(site_id: int) -> list[User]:
    """The estate's active guards, by staff number."""
    return list(db.session.scalars(select(User).where(
        User.site_id == site_id, User.role == Role.GUARD, User.active.is_(True))
        .order_by(User.staff_no, User.id)))


def ack_history(order: PostOrder) -> list[AckRow]:
    """Every active guard with the last revision they acknowledged and when (None: never)."""
    last: dict[int, tuple[int, datetime]] = {}
    for user_id, revision, at in db.session.execute(
            select(PostOrderAck.user_id, PostOrderAck.revision, PostOrderAck.acked_at)
            .where(PostOrderAck.order_id == order.id).order_by(PostOrderAck.revision)):
        last[user_id] = (revision, at)
    rows = []
    for guard in guards_of(order.site_id):
        revision, at = last.get(guard.id, (None, None))
        rows.append(AckRow(guard, revision, at, revision == order.revision))
    return rows


def ack_counts(site_id: int, orders: list[PostOrder]) -> tuple[dict[int, int], int]:
    """({order id: guards who acknowledged its current revision}, number of active guards)."""
    guard_ids = {g.id for g in guards_of(site_id)}
    counts = {o.id: 0 for o in orders}
    if orders and guard_ids:
        current = {(o.id, o.revision) for o in orders}
        for order_id, revision, user_id in db.session.execute(
                select(PostOrderAck.order_id, PostOrderAck.revision, PostOrderAck.user_id)
                .where(PostOrderAck.order_id.in_(counts))):
            if (order_id, revision) in current and user_id in guard_ids:
                counts[order_id] += 1
    return counts, len(guard_ids)


def history(order: PostOrder) -> list[ShiftBookEntry]:
    """The order's created/changed/retired entries from the shift book, oldest first."""
    entries = db.session.scalars(select(ShiftBookEntry).where(
        ShiftBookEntry.site == shiftbook.site_code(), ShiftBookEntry.kind.in_(ENTRY_KINDS))
        .order_by(ShiftBookEntry.seq))
    return [e for e in entries if json.loads(e.data).get("order_id") == order.id]
