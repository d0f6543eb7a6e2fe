"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from gate.models.types import utcnow
from kiosk_ui.scripts import script

EQUIPMENT = {
    "radio": _l("Radios"),
    "keys": _l("Keys"),
    "logbook": _l("Paper logbook"),
    "torch": _l("Torch"),
    "umbrella": _l("Umbrellas"),
}
ROLE_LABELS = {
    "guard": _l("Guard"),
    "supervisor": _l("Supervisor"),
    "service_desk": _l("Service desk"),
    "resident": _l("Resident"),
    "admin": _l("Administrator"),
}


def localtime(moment: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the site's time zone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(current_app.config["GATE_TIMEZONE"])).strftime(fmt)


def entrytime(text: str) -> str:
    """A shift-book RFC 3339 timestamp shown in the site's time zone."""
    return localtime(datetime.fromisoformat(text.replace("Z", "+00:00")), "%Y-%m-%d %H:%M:%S")


def mask_phone(phone: str | None) -> str:
    """138****0001: staff screens never show a whole phone number."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def install(app: Flask) -> None:
    """Register the filters and globals with Jinja."""
    app.jinja_env.filters.update(localtime=localtime, entrytime=entrytime, mask_phone=mask_phone)
    app.jinja_env.globals.update(
        script=script, now=utcnow, get_locale=get_locale,
        equipment_label=lambda key: str(EQUIPMENT.get(key, key)),
        role_label=lambda role: str(ROLE_LABELS.get(role, role)))
