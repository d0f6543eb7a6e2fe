"""Shifts in the supervisor console: the list by post and dates, each shift's daily activity
report (counts, timeline, handover, open items carried over), its review and supervisor notes.

Guards' entries are never changed here: reviews, notes and corrections are new shift-book
entries (gate.services.shift_review). Shifts are looked up through the estate's posts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.domain.chain import record_digest
from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import Post, Role, Shift, User
from gate.services import ActionError, auth, daily_pdf, shift_review
from gate.services.shifts import shifts_between
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.helpers import typed_day

bp = Blueprint("console_shifts", __name__, url_prefix="/console/shifts")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

MAX_DAYS = 92
DEFAULT_DAYS = 7
OPEN_ITEM_KINDS = {
    "visitor": _l("Visitor still inside"),
    "approval": _l("Supervisor request waiting"),
    "incident": _l("Open incident"),
    "follow_up": _l("Promise not yet kept"),
    "overstay": _l("Visitor car past its time"),
}


def _range(values: dict[str, str]) -> tuple[datetime, datetime]:
    """The period the list covers: the dates typed, else the last 7 days (site time)."""
    since = typed_day(values["from"], end=False)
    until = typed_day(values["to"], end=True)
    if since is None and until is None:
        today = datetime.now(ZoneInfo(current_app.config["GATE_TIMEZONE"])).strftime("%Y-%m-%d")
        until = typed_day(today, end=True)
    if until is None:
        until = since + timedelta(days=DEFAULT_DAYS)
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS)
    if until <= since:
        raise ActionError("bad_range", _l("The end date is before the start date. Swap them and try again."))
    if until - since > timedelta(days=MAX_DAYS):
        raise ActionError("range_too_long", _l("Choose at most %(n)d days at a time.", n=MAX_DAYS))
    return since, until


def _post(site_id: int, text: str) -> Post | None:
    if not text:
        return None
    post_id = parse_id(text)
    post = db.session.get(Post, post_id) if post_id else None
    if post is None or post.site_id != site_id:
        raise ActionError("unknown_post", _l("There is no such post at this estate. Choose one from "
                                             "the list."))
    return post


@bp.get("/")
@supervisors
def listing():
    """Shifts of the estate by post and date range, with guard, times, counts and review state."""
    site_id = current_user.site_id
    values = {key: request.args.get(key, "").strip()[:20] for key in ("post", "from", "to", "state")}
    posts = db.session.scalars(select(Post).where(Post.site_id == site_id).order_by(Post.code)).all()
    rows: list[Shift] = []
    error = None
    try:
        post = _post(site_id, values["post"])
        since, until = _range(values)
    except ActionError as exc:
        error = exc.message
    else:
        rows = [s for s in shifts_between(site_id, since, until) if post is None or s.post_id == post.id]
    states = shift_review.states(s.id for s in rows)
    if values["state"] in shift_review.STATES:
        rows = [s for s in rows if states[s.id] == values["state"]]
    return render_template("console/shifts.html", rows=rows, values=values, error=error, posts=posts,
                           post_names={p.id: p.name for p in posts}, states=states,
                           state_labels=shift_review.STATE_LABELS,
                           counts=shift_review.entry_counts(s.id for s in rows))


def _shift(shift_id: int) -> Shift:
    try:
        return shift_review.get_shift(current_user.site_id, shift_id)
    except ActionError:
        abort(404)


@bp.get("/<int:shift_id>")
@supervisors
def report(shift_id: int):
    """The daily activity report: counts per type, timeline, handover, open items, review, notes."""
    shift = _shift(shift_id)
    rep = shift_review.report(shift)
    handover = shift_review.data_of(rep.handover) if rep.handover else {}
    notes_ok = (handover.get("notes_digest") == record_digest({"notes": shift.handover_notes or ""})
                if handover else None)
    checkpoint, signature_ok = daily_pdf.checkpoint_of(rep.handover)
    ids = {e.actor_id for e in rep.timeline if e.actor_id} | {e.actor_id for e in rep.history if e.actor_id}
    ids |= {n.actor_id for group in rep.notes.values() for n in group if n.actor_id}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return render_template("console/shift.html", shift=shift, rep=rep,
                           post=db.session.get(Post, shift.post_id),
                           handover=handover, notes_ok=notes_ok, checkpoint=checkpoint,
                           signature_ok=signature_ok, people=people, data_of=shift_review.data_of,
                           state_labels=shift_review.STATE_LABELS, open_item_kinds=OPEN_ITEM_KINDS,
                           next_step=shift_review.NEXT.get(rep.state), form=PlainForm(),
                           max_comment=shift_review.MAX_COMMENT)


@bp.post("/<int:shift_id>/review")
@supervisors
def review(shift_id: int):
    """Mark the report reviewed (comment required) or approved: a new shift-book entry."""
    shift = _shift(shift_id)
    require_token()
    to = request.form.get("to", "")
    try:
        shift_review.advance(shift, current_user, to,
                             request.form.get("comment", "")[:shift_review.MAX_COMMENT * 2])
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Shift report marked %(state)s.", state=shift_review.STATE_LABELS[to]), "success")
    return redirect(url_for("console_shifts.report", shift_id=shift.id))


@bp.post("/<int:shift_id>/notes")
@supervisors
def add_note(shift_id: int):
    """A supervisor's note or correction on one of the shift's entries, linked to it."""
    shift = _shift(shift_id)
    require_token()
    seq = request.form.get("seq", type=int)
    try:
        if seq is None or not any(e.seq == seq for e in shift_review.report(shift).timeline):
            raise ActionError("not_found", _l("That entry is not part of this shift."))
        shift_review.note(seq, current_user, request.form.get("text", "")[:shift_review.MAX_COMMENT * 2],
                          correction=request.form.get("correction") == "on")
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Note added to entry %(seq)d.", seq=seq), "success")
    return redirect(url_for("console_shifts.report", shift_id=shift.id) + (f"#entry-{seq}" if seq else ""))
