"""The guard's touchscreen: start a shift, write the shift book, hand over."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import Post, Role
from gate.services import ActionError, auth, journal, open_items, parking, shifts
from gate.services.sites import current_site, posts
from kiosk_ui.forms import JournalForm, PlainForm

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")
guard_only = auth.roles_required(Role.GUARD)


def _shift_or_start():
    shift = shifts.current_shift(current_user)
    if shift is None:
        flash(_("Start your shift first."), "info")
    return shift


@bp.get("/")
@guard_only
def home():
    """The guard's start page during a shift."""
    shift = shifts.current_shift(current_user)
    if shift is None:
        return redirect(url_for("kiosk.start"))
    post = db.session.get(Post, shift.post_id)
    items = open_items.collect(post)
    # Counted here, not with Jinja's selectattr: a filter test per item per count was a sixth of
    # the page's time with a few hundred visitors inside (bench/web.py).
    kinds = Counter(i.kind for i in items)
    return render_template("kiosk/home.html", shift=shift, post=post, kinds=kinds,
                           items=[i for i in items if i.kind != "follow_up"],
                           follow_ups=journal.open_follow_ups(post.site_id, post.id),
                           records=journal.recent(current_user.site_id, shift.id, 8),
                           labels=journal.LABELS, form=PlainForm(),
                           cars_inside=len(parking.on_site(post.site_id)))


@bp.route("/shift/start", methods=["GET", "POST"])
@guard_only
def start():
    """Acknowledge unread post orders and start the shift at a post."""
    if shifts.current_shift(current_user) is not None:
        return redirect(url_for("kiosk.home"))
    site = current_site()
    all_posts = posts(site)
    if not all_posts:
        abort(404)
    post_id = request.values.get("post_id", type=int) or all_posts[0].id
    post = next((p for p in all_posts if p.id == post_id), None)
    if post is None:
        abort(404)
    form = PlainForm()
    unread = shifts.unread_orders(current_user, post)
    if request.method == "POST" and form.validate():
        acked = {i for v in request.form.getlist("ack") if (i := parse_id(v))}
        try:
            shifts.start_shift(current_user, post, acked)
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Shift started at %(post)s.", post=post.name), "success")
            return redirect(url_for("kiosk.home"))
    return render_template("kiosk/start.html", post=post, posts=all_posts, orders=unread,
                           form=form)


@bp.route("/journal/<kind>", methods=["GET", "POST"])
@guard_only
def write(kind: str):
    """Write a phone call, inspection, complaint, patrol or note into the shift book."""
    if kind not in journal.KINDS:
        abort(404)
    shift = _shift_or_start()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    form = JournalForm()
    if request.method == "POST" and form.validate():
        raw = {k: request.form.get(k, "") for k in request.form}
        raw["forwarded"] = "yes" if form.forwarded.data else ""
        try:
            journal.write(current_user, shift, kind, raw)
        except ActionError as exc:
            flash(exc.message, "error")
            return render_template("kiosk/journal.html", kind=kind, form=form,
                                   label=journal.LABELS[kind], required=journal.KINDS[kind][0]), 422
        flash(_("Saved to the shift book."), "success")
        return redirect(url_for("kiosk.home"))
    return render_template("kiosk/journal.html", kind=kind, form=form, label=journal.LABELS[kind],
                           required=journal.KINDS[kind][0])


@bp.post("/follow-ups/<int:follow_id>/close")
@guard_only
def close_follow_up(follow_id: int):
    """Close an open promise with what was done."""
    form = PlainForm()
    if form.validate():
        try:
            journal.close_follow_up(current_user, follow_id, request.form.get("outcome", ""))
        except ActionError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Item closed."), "success")
    return redirect(url_for("kiosk.home"))


@bp.route("/shift/handover", methods=["GET", "POST"])
@guard_only
def handover():
    """Hand the post over: open items, equipment count, notes, both guards' PINs."""
    shift = _shift_or_start()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    post = db.session.get(Post, shift.post_id)
    form = PlainForm()
    equipment = shifts.equipment_items()
    status = 200
    if request.method == "POST" and form.validate():
        counts = {key: {"count": request.form.get(f"count_{key}", ""),
                        "ok": request.form.get(f"ok_{key}") == "on"} for key in equipment}
        data = shifts.Handover(incoming_staff_no=request.form.get("incoming_staff_no", ""),
                               incoming_pin=request.form.get("incoming_pin", ""),
                               outgoing_pin=request.form.get("outgoing_pin", ""),
                               equipment=counts, notes=request.form.get("notes", ""))
        try:
            shifts.hand_over(shift, data)
        except ActionError as exc:
            flash(exc.message, "error")
            status = 422
        else:
            incoming = shifts.incoming_after(shift)
            logout_user()
            auth.log_in(incoming)
            flash(_("Handover complete. %(name)s, please read the post orders and start your "
                    "shift.", name=incoming.display_name), "success")
            return redirect(url_for("kiosk.start", post_id=post.id))
    return render_template("kiosk/handover.html", shift=shift, post=post,
                           items=open_items.collect(post), equipment=equipment, form=form,
                           values=request.form, last=shifts.last_equipment(post)), status
