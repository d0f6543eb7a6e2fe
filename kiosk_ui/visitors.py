"""The visitor desk (篇3 §四, SPEC §2.1): whom to, the visitor's ID, forced entry; shared helpers.

The visit page and every step after check-in (host answer, supervisor, admission, message, slip,
on-site list, check-out) are in kiosk_ui/visitor_steps.py, on the same blueprint.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import DeviceEvent, Gate, Role, Unit, Visit
from gate.models.types import utcnow
from gate.services import ActionError, auth, like, shifts, visitors, visits
from gate.services.sites import current_site
from kiosk_ui.forms import PlainForm

bp = Blueprint("visitors", __name__, url_prefix="/kiosk/visitors")
guard_only = auth.roles_required(Role.GUARD)

ID_KINDS = {"resident_id": _l("Resident ID card"), "passport": _l("Passport"), "other": _l("Other document")}
FIELDS = ("unit", "id_type", "id_number", "name", "phone", "purpose", "plate", "card_event")
CARD_FRESH = timedelta(minutes=2)     # "the card just read"
CARD_USABLE = timedelta(minutes=10)   # …and how long the form may take to be submitted after it
STATE_LABELS = {
    "waiting_host": _l("waiting for the host"),
    "waiting_supervisor": _l("waiting for the supervisor"),
    "admitted": _l("inside"),
    "checked_out": _l("left"),
    "declined": _l("host absent or declined"),
    "refused": _l("refused"),
    "forced": _l("forced entry"),
}


def shift_or_none():
    """The guard's open shift; None (with a message) when a shift must be started first."""
    shift = shifts.current_shift(current_user)
    if shift is None:
        flash(_("Start your shift first."), "info")
    return shift


def visit_or_404(visit_id: int) -> Visit:
    """A visit of this site."""
    try:
        return visits.get(current_user.site_id, visit_id)
    except ActionError:
        abort(404)


def attempt(action, *args, **kwargs):
    """Run a service call; an ActionError or a lost race becomes a flash message. (ok, result)."""
    try:
        return True, action(*args, **kwargs)
    except ActionError as exc:
        db.session.rollback()
        if exc.code == "wrong_state" and args and isinstance(args[0], Visit):
            visit = db.session.get(Visit, args[0].id)
            flash(_("This visit has already moved on: it is now “%(state)s”. Check the screen.",
                    state=STATE_LABELS.get(visit.state, visit.state)), "error")
        else:
            flash(exc.message, "error")
    except StaleDataError:
        db.session.rollback()
        flash(_("Another guard changed this visit just now. Check the screen."), "error")
    return False, None


def _gate_code(site_id: int) -> str | None:
    return db.session.scalars(select(Gate.code).where(Gate.site_id == site_id, Gate.kind == "pedestrian")
                              .order_by(Gate.id)).first()


def alert(kind: str, text: str) -> None:
    """Tell the supervisor on the MQTT alerts topic; no broker is fine, the record is already made."""
    from device_adapters import web_link

    web_link.publish_alert(kind, text, gate=_gate_code(current_user.site_id))  # False: recorded anyway


def _card(event_id, fresh: timedelta) -> DeviceEvent | None:
    """A card read of this site no older than `fresh`; the latest one when event_id is None."""
    query = select(DeviceEvent).where(DeviceEvent.site == current_site().code, DeviceEvent.kind == "card",
                                      DeviceEvent.received_at >= utcnow() - fresh)
    if event_id is not None:
        return db.session.scalars(query.where(DeviceEvent.id == event_id)).first()
    return db.session.scalars(query.order_by(DeviceEvent.received_at.desc(), DeviceEvent.id.desc())).first()


def _identity(values: dict, need_id: bool) -> visitors.Identity:
    """The visitor's checked identity from the form: a typed number, or the card read."""
    typed = values["id_number"].strip()
    if not need_id:
        return visitors.check_identity(values["name"], None, None, values["phone"])
    if typed:
        return visitors.check_identity(values["name"], values["id_type"], typed, values["phone"])
    event = _card(card_id, CARD_USABLE) if (card_id := parse_id(values["card_event"])) else None
    if values["card_event"] and event is None:
        raise ActionError("card_expired", _l("The card read has expired. Read the card again, or type "
                                             "the number."))
    if event is None:
        raise ActionError("id_required", _l("Enter the ID number, or choose “Refuses to show ID” or "
                                            "“Forgot ID”."))
    base = visitors.check_identity(values["name"] or event.summary.get("name", ""), None, None,
                                   values["phone"])
    return dataclasses.replace(base, id_type="resident_id", id_masked=event.summary["id_masked"],
                               id_hash=event.summary["id_hash"])


def _render_new(step: str, values: dict, mode: str | None = None, status: int = 200):
    card = _card(card_id, CARD_USABLE) if (card_id := parse_id(values.get("card_event"))) else None
    key = {"unit": "ask_host", "id": "show_id"}[step] if mode is None else "id_refused"
    page = render_template("kiosk/visitor_new.html", step=step, mode=mode, values=values, card=card,
                           id_kinds=ID_KINDS, form=PlainForm(), script_key=key)
    # The form is refilled with what the guard typed, ID number included, so that one wrong
    # digit can be fixed: the page must not stay in the browser's cache.
    return page, status, {"Cache-Control": "no-store"}


@bp.route("/new", methods=["GET", "POST"])
@guard_only
def new():
    """Step 1: whom to (unit); step 2: the visitor's document; then the host is asked."""
    shift = shift_or_none()
    if shift is None:
        return redirect(url_for("kiosk.start"))
    values = {key: request.form.get(key, "") for key in FIELDS}
    values["id_type"] = values["id_type"] if values["id_type"] in ID_KINDS else "resident_id"
    if request.method == "GET":
        # A car prompt at the barrier starts this flow with its plate (never other fields:
        # nothing personal travels in a URL).
        values["plate"] = request.args.get("plate", "")[:12]
        return _render_new("unit", values)
    if not PlainForm().validate():
        abort(400)
    action = request.form.get("action", "unit")
    if action == "change_unit":
        return _render_new("unit", values)
    try:
        values["unit"] = visits.find_unit(current_user.site_id, values["unit"]).code
    except ActionError as exc:
        flash(exc.message, "error")
        return _render_new("unit", values, status=422)
    if action == "card":
        return _use_card(values)
    if action == "refuses":
        return _render_new("id", values, mode="refused")
    if action not in ("start", "refuse", "escalate_refused", "forgot"):
        return _render_new("id", values)
    try:
        identity = _identity(values, need_id=action == "start")
        visit = visits.start(current_user, shift, values["unit"], identity, purpose=values["purpose"],
                             plate=values["plate"])
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        mode = "refused" if action in ("refuse", "escalate_refused") else None
        return _render_new("id", values, mode=mode, status=422)
    if visit.state == "refused":
        alert("watchlist_hit", _("Watchlist match at the gate: visit %(id)s refused.", id=visit.id))
    elif action == "refuse":
        attempt(visits.refuse, visit, "refused_id", current_user)
    elif action in ("escalate_refused", "forgot"):
        attempt(visits.escalate, visit, "forgot_id" if action == "forgot" else "refused_id", current_user)
    return redirect(url_for("visitors.show", visit_id=visit.id))


def _use_card(values: dict):
    """Fill name and masked ID from the ID-card reader's latest read (never the clear number)."""
    event = _card(None, CARD_FRESH)
    if event is None:
        flash(_("No card was read in the last 2 minutes. Put the card on the reader again, or type "
                "the number."), "error")
        return _render_new("id", values, status=422)
    values.update(card_event=str(event.id), id_type="resident_id", id_number="",
                  name=event.summary.get("name", "") or values["name"])
    identity = visitors.Identity(values["name"], None, "resident_id", event.summary["id_masked"],
                                 event.summary["id_hash"])
    known = visitors.returning(current_user.site_id, identity)
    if known is not None and known.erased_at is None and not values["phone"]:
        values["phone"] = known.phone or ""
    return _render_new("id", values)


@bp.get("/units")
@guard_only
def units():
    """Typeahead: unit codes starting with what was typed (at most 10; never who lives there)."""
    text = unicodedata.normalize("NFKC", request.args.get("q", "")).strip()
    for sep in ("栋", "幢", "单元", "室", "号", " ", "_", "/", "—"):
        text = text.replace(sep, "-")
    text = "-".join(part for part in text.split("-") if part) + ("-" if text.endswith("-") else "")
    if not text or len(text) > 20:
        return jsonify([])
    codes = db.session.scalars(select(Unit.code).where(Unit.site_id == current_user.site_id,
                                                       like.starts_with(Unit.code, text))
                               .order_by(Unit.code).limit(10))
    return jsonify(list(codes))


@bp.post("/returning")
@guard_only
def returning():
    """A returning visitor's name and phone for the ID just typed; the number is never echoed."""
    try:
        identity = visitors.check_identity("-", request.form.get("id_type") or "resident_id",
                                           request.form.get("id_number", ""))
    except ActionError as exc:
        return jsonify(found=False, error=exc.message)
    known = visitors.returning(current_user.site_id, identity) if identity.id_hash else None
    if known is None or known.erased_at is not None:
        return jsonify(found=False)
    return jsonify(found=True, name=known.name, phone=known.phone or "")


def _forced(visit: Visit | None):
    shift = shift_or_none()
    if shift is None:
        return None
    if not PlainForm().validate():
        abort(400)
    ok, incident = attempt(visits.forced_entry, visit, request.form.get("account", ""), current_user, shift)
    if ok:
        unit = f" ({visit.unit.code})" if visit is not None else ""
        alert("forced_entry", _("Forced entry at the gate%(unit)s: incident %(id)s. Please come.",
                                unit=unit, id=incident.id))
        flash(_("Forced entry recorded and the supervisor alerted. Stay calm and restrained; the record "
                "protects you."), "success")
    return ok


@bp.post("/<int:visit_id>/forced")
@guard_only
def forced(visit_id: int):
    """Record a forced entry (硬闯) of this visitor and alert the supervisor."""
    if _forced(visit_or_404(visit_id)) is None:
        return redirect(url_for("kiosk.start"))
    return redirect(url_for("visitors.show", visit_id=visit_id))


@bp.route("/forced", methods=["GET", "POST"])
@guard_only
def forced_form():
    """Record a forced entry by someone not registered as a visitor."""
    if request.method == "POST":
        ok = _forced(None)
        if ok is None:
            return redirect(url_for("kiosk.start"))
        if ok:
            return redirect(url_for("visitors.forced_form"))
    return render_template("kiosk/visitor_forced.html", form=PlainForm(), script_key="forced",
                           account=request.form.get("account", ""))


# The visit page and its steps add their routes to `bp`; import them whenever the desk is imported.
from kiosk_ui import visitor_steps  # noqa: E402, F401
