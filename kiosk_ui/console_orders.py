"""Post orders (岗位须知) in the supervisor console: the list with who has read each, new orders,
changes (a new revision every guard acknowledges again), retiring, and the acknowledgement history.

Orders are looked up through the estate: another site's id is a plain 404. A refused form is shown
again with what was typed, so a long order text is never lost to a typo in the expiry.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import PostOrder, Role, User
from gate.models.types import utcnow
from gate.services import ActionError, auth, post_orders
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.helpers import localtime

bp = Blueprint("console_orders", __name__, url_prefix="/console/orders")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

STATES = {"active": _l("In force"), "expired": _l("No longer in force")}
ENTRY_LABELS = {
    "post_order.created": _l("Order issued"),
    "post_order.changed": _l("Order changed"),
    "post_order.retired": _l("Order retired"),
}
FORM_FIELDS = ("kind", "category", "title", "body", "post", "expires")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> reads and sends


def _post_id(text: str) -> int | None:
    """The form's post choice: empty is every post; anything but a number is refused."""
    text = text.strip()
    if not text:
        return None
    if parse_id(text) is None:
        raise ActionError("unknown_post", _l("There is no such post at this estate. Choose one from "
                                             "the list."))
    return int(text)


def _typed() -> dict[str, str]:
    return {key: request.form.get(key, "")[:post_orders.MAX_BODY * 2] for key in FORM_FIELDS}


def _fields(values: dict[str, str]) -> tuple:
    """The service's arguments from the form: kind, category, title, body, post id, expiry."""
    return (values["kind"], values["category"], values["title"], values["body"],
            _post_id(values["post"]), post_orders.local_expiry(values["expires"]))


def _values_of(order: PostOrder) -> dict[str, str]:
    return {"kind": order.kind, "category": order.category, "title": order.title, "body": order.body,
            "post": str(order.post_id or ""), "expires": localtime(order.expires_at, INPUT_FORMAT)}


def _form_context(site_id: int) -> dict:
    now = utcnow()
    posts = post_orders.posts_of(site_id)
    return {"posts": posts, "post_names": {p.id: p.name for p in posts}, "kinds": post_orders.KINDS,
            "categories": post_orders.CATEGORIES, "form": PlainForm(),
            "max_title": post_orders.MAX_TITLE, "max_body": post_orders.MAX_BODY,
            "min_expiry": localtime(now, INPUT_FORMAT),
            "max_expiry": localtime(now + post_orders.MAX_AHEAD, INPUT_FORMAT)}


def _listing(new: dict[str, str] | None = None, status: int = 200):
    site_id = current_user.site_id
    filters = {key: request.args.get(key, "").strip()[:20] for key in ("post", "state")}
    context = _form_context(site_id)
    post = filters["post"]
    post_id = parse_id(post) if parse_id(post) in context["post_names"] else None
    active, ended = post_orders.list_orders(site_id, post_id)
    if filters["state"] == "active":
        ended = []
    elif filters["state"] == "expired":
        active = []
    counts, guards = post_orders.ack_counts(site_id, active + ended)
    blank = {key: "" for key in FORM_FIELDS} | {"kind": "standing", "category": "security"}
    return render_template("console/orders.html", active=active, ended=ended, filters=filters,
                           states=STATES, counts=counts, guards=guards, new=new or blank,
                           **context), status


@bp.get("/")
@supervisors
def listing():
    """Orders in force and ended ones, filtered by post and state, with the new-order form."""
    return _listing()


@bp.post("/")
@supervisors
def create():
    """Issue a new order; the guards read it at their next shift start."""
    require_token()
    values = _typed()
    try:
        order = post_orders.create(current_user, *_fields(values))
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _listing(values, 422)
    flash(_("Post order “%(title)s” issued.", title=order.title), "success")
    return redirect(url_for("console_orders.show", order_id=order.id))


def _order(order_id: int) -> PostOrder:
    try:
        return post_orders.get(current_user.site_id, order_id)
    except ActionError:
        abort(404)


def _people(ids: set[int | None]) -> dict[int, User]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def _order_page(order: PostOrder, values: dict[str, str] | None = None, status: int = 200):
    history = post_orders.history(order)
    people = _people({order.created_by_id, order.updated_by_id} | {e.actor_id for e in history})
    acks = post_orders.ack_history(order)
    return render_template("console/order.html", order=order, values=values or _values_of(order),
                           active=post_orders.is_active(order), acks=acks,
                           acked=sum(1 for row in acks if row.current), history=history,
                           data_of=json.loads, people=people, entry_labels=ENTRY_LABELS,
                           **_form_context(order.site_id)), status


@bp.get("/<int:order_id>")
@supervisors
def show(order_id: int):
    """One order: its text and revision, the edit form, retire, and who acknowledged it."""
    return _order_page(_order(order_id))


@bp.post("/<int:order_id>")
@supervisors
def change(order_id: int):
    """Change the order; a new title, text or post makes every guard acknowledge it again."""
    order = _order(order_id)
    require_token()
    values = _typed()
    before = order.revision
    try:
        post_orders.change(current_user, order.id, *_fields(values))
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _order_page(_order(order_id), values, 422)
    if order.revision != before:
        flash(_("Saved as revision %(n)d: every guard acknowledges it again at their next shift "
                "start.", n=order.revision), "success")
    else:
        flash(_("Saved. The wording is the same, so guards need not acknowledge it again."), "success")
    return redirect(url_for("console_orders.show", order_id=order.id))


@bp.post("/<int:order_id>/retire")
@supervisors
def retire(order_id: int):
    """End the order now; it stays listed as ended, with its acknowledgements."""
    order = _order(order_id)
    require_token()
    try:
        post_orders.retire(current_user, order.id)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Post order “%(title)s” retired.", title=order.title), "success")
    return redirect(url_for("console_orders.show", order_id=order.id))

