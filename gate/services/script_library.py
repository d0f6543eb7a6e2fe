"""The script library (话术): each kiosk script per situation, built in (zh_CN and English) or in
the site's own wording, which a supervisor edits in the console.

The built-in text is the lazy English source string in kiosk_ui.scripts rendered under each
locale (the zh_CN catalogue holds the rules' wording). A site's wording is a ScriptText row;
saving the built-in text again, or nothing, removes the row. Shift-book entries hold the key,
the locale and a digest of the text now in effect, never the text itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from flask import g
from flask_babel import force_locale
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gate.extensions import db
from gate.models import Role, ScriptText, Site, User
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction
from gate.services.builtin_scripts import SCRIPTS
from gate.services.visitors import clean_text

LOCALES = ("zh_CN", "en")
MAX_TEXT = 300
EDITORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Where kiosk_ui.scripts.script() keeps the request's overrides; save() drops it so the
# request that saved (and a test sharing one app context) reads the new wording.
CACHE_KEY = "script_overrides"

# Situations by group, in the order the console lists them; every SCRIPTS key is in one group.
GROUPS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("shift", _("Shift, patrol and unit visits"), ("greeting", "orders", "handover", "patrol",
                                                   "inspection")),
    ("phone", _("Phone"), ("phone_answer", "phone_close", "phone_dialect")),
    ("complaints", _("Complaints and enquiries"), ("complaint", "complaint_forward")),
    ("visitors", _("Visitors"), ("ask_host", "show_id", "wait_host", "id_refused", "forgot_id",
                                 "forced", "welcome", "host_absent", "goodbye")),
    ("passes", _("Visitor and worker passes"), ("pass_show", "pass_unreadable", "pass_invalid",
                                                "pass_other_site", "pass_not_yet_valid",
                                                "pass_expired", "pass_used_up",
                                                "pass_no_longer_valid", "worker_pass",
                                                "worker_hours")),
    ("slips", _("Release slips"), ("slip_ask", "slip_none", "slip_done", "slip_not_valid",
                                   "slip_not_now", "slip_used", "slip_mismatch", "slip_partial")),
    ("vehicles", _("Vehicles"), ("vehicle_refuse",)),
)


@dataclass
class Situation:
    """One script: its built-in text and the site's wording (None: built-in) per locale."""

    key: str
    built_in: dict[str, str]
    site: dict[str, ScriptText | None] = field(default_factory=dict)

    def text(self, locale: str) -> str:
        """The wording the kiosk shows in `locale`."""
        row = self.site.get(locale)
        return row.text if row is not None else self.built_in[locale]


@dataclass
class Group:
    """Situations of one kind (visitors, passes, …) under a short label."""

    code: str
    label: Any
    situations: list[Situation]


def built_in(locale: str) -> dict[str, str]:
    """Every built-in script rendered in `locale` (zh_CN or en)."""
    with force_locale(locale):
        return {key: str(text) for key, text in SCRIPTS.items()}


def overrides(site_id: int) -> dict[tuple[str, str], str]:
    """The site's own wordings by (key, locale), in one query."""
    rows = db.session.execute(select(ScriptText.key, ScriptText.locale, ScriptText.text)
                              .where(ScriptText.site_id == site_id)).all()
    return {(key, locale): text for key, locale, text in rows}


def served_site_overrides() -> dict[tuple[str, str], str]:
    """The wordings of the site this process serves (GATE_SITE), in one query."""
    rows = db.session.execute(select(ScriptText.key, ScriptText.locale, ScriptText.text)
                              .join(Site, Site.id == ScriptText.site_id)
                              .where(Site.code == shiftbook.site_code())).all()
    return {(key, locale): text for key, locale, text in rows}


def text_for(site_id: int, key: str, locale: str) -> str | None:
    """The site's wording of one script in one locale; None when the site uses the built-in."""
    return db.session.scalar(select(ScriptText.text).where(
        ScriptText.site_id == site_id, ScriptText.key == key, ScriptText.locale == locale))


def _rows(site_id: int) -> dict[tuple[str, str], ScriptText]:
    rows = db.session.scalars(select(ScriptText).where(ScriptText.site_id == site_id))
    return {(r.key, r.locale): r for r in rows}


def situation(site_id: int, key: str) -> Situation:
    """One script with its built-in texts and the site's wording; ActionError for an unknown key."""
    _check(key, LOCALES[0])
    rows = db.session.scalars(select(ScriptText).where(ScriptText.site_id == site_id,
                                                       ScriptText.key == key))
    site = {r.locale: r for r in rows}
    return Situation(key, {loc: built_in(loc)[key] for loc in LOCALES},
                     {loc: site.get(loc) for loc in LOCALES})


def library(site_id: int) -> list[Group]:
    """Every situation, grouped, with built-in and site texts in zh_CN and English."""
    texts = {loc: built_in(loc) for loc in LOCALES}
    rows = _rows(site_id)
    return [Group(code, label, [Situation(key, {loc: texts[loc][key] for loc in LOCALES},
                                          {loc: rows.get((key, loc)) for loc in LOCALES})
                                for key in keys])
            for code, label, keys in GROUPS]


def _check(key: str, locale: str) -> None:
    if key not in SCRIPTS:
        raise ActionError("unknown_script", _("There is no such script."))
    if locale not in LOCALES:
        raise ActionError("bad_locale", _("Scripts are kept in Chinese and English only."))


def save(supervisor: User, key: str, locale: str, text: str | None) -> str:
    """Set the site's wording of one script in one language; empty or built-in text reverts.

    Returns "saved", "reverted" or "unchanged" (nothing written, no shift-book entry).
    """
    if supervisor.role not in EDITORS:
        raise ActionError("not_allowed", _("Only a supervisor can do this."))
    _check(key, locale)
    text = clean_text(text, MAX_TEXT, fold=False)
    default = built_in(locale)[key]
    revert = not text or text == default
    row = db.session.scalars(select(ScriptText).where(
        ScriptText.site_id == supervisor.site_id, ScriptText.key == key,
        ScriptText.locale == locale)).first()
    if (revert and row is None) or (row is not None and row.text == text):
        return "unchanged"
    effective = default if revert else text
    try:
        with transaction():
            if revert:
                db.session.delete(row)
            elif row is None:
                db.session.add(ScriptText(site_id=supervisor.site_id, key=key, locale=locale, text=text,
                                          updated_by_id=supervisor.id, updated_at=utcnow()))
            else:
                row.text, row.updated_by_id, row.updated_at = text, supervisor.id, utcnow()
            db.session.flush()
            shiftbook.append("script.changed", {
                "key": key, "locale": locale, "reverted": revert,
                "sha256": hashlib.sha256(effective.encode()).hexdigest()}, actor_id=supervisor.id)
    except IntegrityError:
        # Another supervisor saved the same script at the same moment (unique site/key/locale).
        raise ActionError("conflict", _("Someone else changed this just now. Reload the page and "
                                        "try again.")) from None
    g.pop(CACHE_KEY, None)
    return "reverted" if revert else "saved"
