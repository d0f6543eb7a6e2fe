"""Script library: each kiosk script (话术) per situation in zh_CN and English, editable per site.

A supervisor words a script the estate's own way in one language, or reverts it to the built-in
text; the kiosk shows the change on its next page. Violation scripts live with their types on
the violations page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gate.extensions import db
from gate.models import Role, User
from gate.services import ActionError, auth, script_library
from kiosk_ui.forms import PlainForm, require_token

bp = Blueprint("console_scripts", __name__, url_prefix="/console/scripts")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

LANGUAGES = {"zh_CN": _l("Chinese"), "en": _l("English")}


def _situation(script_key: str, script_locale: str) -> script_library.Situation:
    if script_locale not in LANGUAGES:
        abort(404)
    try:
        return script_library.situation(current_user.site_id, script_key)
    except ActionError:
        abort(404)


@bp.get("/")
@supervisors
def listing():
    """Every situation with its zh_CN and English text side by side, marking the site's wording."""
    return render_template("console/scripts.html", groups=script_library.library(current_user.site_id),
                           languages=LANGUAGES)


@bp.get("/<script_key>/<script_locale>")
@supervisors
def edit(script_key: str, script_locale: str):
    """One script in one language: the built-in text, the site's wording, and the edit form."""
    item = _situation(script_key, script_locale)
    row = item.site[script_locale]
    editor = db.session.get(User, row.updated_by_id) if row is not None and row.updated_by_id else None
    return render_template("console/script_edit.html", item=item, locale=script_locale, row=row,
                           editor=editor, languages=LANGUAGES, limit=script_library.MAX_TEXT,
                           form=PlainForm())


@bp.post("/<script_key>/<script_locale>")
@supervisors
def save(script_key: str, script_locale: str):
    """Save the site's wording; empty text or the built-in text goes back to the built-in."""
    item = _situation(script_key, script_locale)
    require_token()
    text = request.form.get("text", "")[:script_library.MAX_TEXT * 2]
    return _save(item, script_locale, text)


@bp.post("/<script_key>/<script_locale>/revert")
@supervisors
def revert(script_key: str, script_locale: str):
    """Drop the site's wording: the kiosk shows the built-in text again."""
    item = _situation(script_key, script_locale)
    require_token()
    return _save(item, script_locale, "")


def _save(item: script_library.Situation, locale: str, text: str):
    try:
        outcome = script_library.save(current_user, item.key, locale, text)
    except ActionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console_scripts.edit", script_key=item.key, script_locale=locale))
    messages = {"saved": _("Script saved; the kiosk shows it on its next page."),
                "reverted": _("Script back to the built-in wording."),
                "unchanged": _("Nothing changed.")}
    flash(messages[outcome], "success" if outcome != "unchanged" else "info")
    return redirect(url_for("console_scripts.listing", _anchor=f"script-{item.key}"))
