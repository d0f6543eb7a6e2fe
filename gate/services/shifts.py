"""Starting a shift (post orders acknowledged) and handing it over (both guards sign)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _
from sqlalchemy import and_, or_, select

from gate.domain.chain import record_digest
from gate.extensions import db
from gate.models import Post, PostOrder, PostOrderAck, Shift, User
from gate.models.types import utcnow
from gate.services import ActionError, auth, open_items, shiftbook, transaction


def equipment_items() -> list[str]:
    """The equipment keys counted at every handover (GATE_EQUIPMENT)."""
    return [k.strip() for k in current_app.config["GATE_EQUIPMENT"].split(",") if k.strip()]


def last_equipment(post: Post) -> dict[str, dict]:
    """The equipment counted at this post's last handover: the starting point for this one."""
    last = db.session.scalars(select(Shift).where(Shift.post_id == post.id,
                                                  Shift.ended_at.is_not(None))
                              .order_by(Shift.ended_at.desc()).limit(1)).first()
    return dict(last.equipment or {}) if last else {}


def current_shift(user: User) -> Shift | None:
    """The guard's open shift, if any."""
    return db.session.scalars(select(Shift).where(Shift.guard_id == user.id,
                                                  Shift.ended_at.is_(None))).first()


def open_shift_at(post: Post) -> Shift | None:
    """Whoever is on shift at the post now."""
    return db.session.scalars(select(Shift).where(Shift.post_id == post.id,
                                                  Shift.ended_at.is_(None))).first()


def active_orders(post: Post) -> list[PostOrder]:
    """Standing orders and unexpired pass-down orders for this post (or all posts)."""
    now = utcnow()
    return list(db.session.scalars(
        select(PostOrder).where(
            PostOrder.site_id == post.site_id,
            or_(PostOrder.post_id == post.id, PostOrder.post_id.is_(None)),
            or_(PostOrder.expires_at.is_(None), PostOrder.expires_at > now))
        .order_by(PostOrder.category, PostOrder.id)))


def unread_orders(user: User, post: Post) -> list[PostOrder]:
    """Active orders the guard has not acknowledged at their current revision."""
    acked = {(order_id, revision) for order_id, revision in db.session.execute(
        select(PostOrderAck.order_id, PostOrderAck.revision).where(PostOrderAck.user_id == user.id))}
    return [o for o in active_orders(post) if (o.id, o.revision) not in acked]


def start_shift(guard: User, post: Post, acknowledged: set[int]) -> Shift:
    """Open a shift once every unread post order is acknowledged."""
    if current_shift(guard) is not None:
        raise ActionError("already_on_shift", _("You are already on shift. End it before starting another."))
    other = open_shift_at(post)
    if other is not None:
        raise ActionError("post_taken", _("%(name)s is on shift at this post. Take over through "
                                          "their handover.", name=other.guard.display_name))
    unread = unread_orders(guard, post)
    missing = [o for o in unread if o.id not in acknowledged]
    if missing:
        raise ActionError("orders_unacknowledged",
                          _("Read and tick every post order before starting (%(n)d left).",
                            n=len(missing)))
    with transaction():
        for order in unread:
            db.session.add(PostOrderAck(order_id=order.id, user_id=guard.id, revision=order.revision))
        shift = Shift(post_id=post.id, guard_id=guard.id, started_at=utcnow())
        db.session.add(shift)
        db.session.flush()
        entry = shiftbook.append("shift.start", {
            "orders_acknowledged": [[o.id, o.revision] for o in unread]},
            actor_id=guard.id, post_id=post.id, shift_id=shift.id)
        shift.start_seq = entry.seq
    return shift


@dataclass
class Handover:
    """What the outgoing guard fills in at the end of a shift."""

    incoming_staff_no: str
    incoming_pin: str
    outgoing_pin: str
    equipment: dict[str, dict]  # key -> {"count": int, "ok": bool}
    notes: str = ""


def _check_equipment(equipment: dict[str, dict], notes: str) -> dict[str, dict]:
    clean: dict[str, dict] = {}
    for key in equipment_items():
        item = equipment.get(key)
        if item is None:
            raise ActionError("equipment_missing", _("Count every item on the equipment list."))
        try:
            count = int(item.get("count", 0))
        except (TypeError, ValueError):
            raise ActionError("equipment_count", _("Enter equipment counts as whole numbers.")) from None
        if count < 0:
            raise ActionError("equipment_count", _("Enter equipment counts as whole numbers."))
        clean[key] = {"count": count, "ok": bool(item.get("ok"))}
    if any(not v["ok"] for v in clean.values()) and not notes.strip():
        raise ActionError("equipment_note", _("Some equipment is missing or damaged: write what "
                                              "happened in the notes."))
    return clean


def hand_over(shift: Shift, form: Handover) -> Shift:
    """Close the shift after both guards confirm with their PINs; sign a checkpoint."""
    if not shift.is_open:
        raise ActionError("shift_closed", _("This shift has already been handed over."))
    outgoing = shift.guard
    try:
        auth.authenticate_guard(outgoing.staff_no or "", form.outgoing_pin)
    except ActionError as exc:
        raise ActionError(exc.code, _("Outgoing guard: %(why)s", why=exc.message)) from None
    try:
        incoming = auth.authenticate_guard(form.incoming_staff_no, form.incoming_pin)
    except ActionError as exc:
        raise ActionError(exc.code, _("Incoming guard: %(why)s", why=exc.message)) from None
    if incoming.id == outgoing.id:
        raise ActionError("same_guard", _("The incoming guard must be someone else."))
    if current_shift(incoming) is not None:
        raise ActionError("incoming_on_shift", _("The incoming guard is still on shift at another "
                                                 "post. They must hand that over first."))
    equipment = _check_equipment(form.equipment, form.notes)
    post = db.session.get(Post, shift.post_id)
    items = open_items.collect(post)
    with transaction():
        shift.ended_at = utcnow()
        shift.relieved_by_id = incoming.id
        shift.handover_notes = form.notes.strip() or None
        shift.equipment = equipment
        entry = shiftbook.append("shift.handover", {
            "to_user_id": incoming.id,
            "open_items": [[i.kind, i.overdue] for i in items],
            "equipment": equipment,
            "notes_digest": record_digest({"notes": shift.handover_notes or ""}),
        }, actor_id=outgoing.id, post_id=shift.post_id, shift_id=shift.id)
        shift.end_seq = entry.seq
        outgoing.session_epoch += 1  # the kiosk session ends with the shift
        shiftbook.checkpoint("shift_end")
    return shift


def incoming_after(shift: Shift) -> User | None:
    """The guard who took over from this shift."""
    return db.session.get(User, shift.relieved_by_id) if shift.relieved_by_id else None


def shifts_between(site_id: int, start, end) -> list[Shift]:
    """Shifts overlapping a period, newest first (supervisor view)."""
    return list(db.session.scalars(
        select(Shift).join(Post).where(Post.site_id == site_id, Shift.started_at < end,
                                       or_(Shift.ended_at.is_(None), and_(Shift.ended_at > start)))
        .order_by(Shift.started_at.desc())))
