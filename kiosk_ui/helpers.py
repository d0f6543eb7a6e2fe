"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
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


FAULTS = {
    "missing": _l("an entry is missing"),
    "broken_link": _l("the link to the previous entry is broken"),
    "edited": _l("the entry was edited after it was written"),
    "unreadable": _l("the entry cannot be read"),
    "removed": _l("the latest entries were removed"),
    "no_key": _l("the public key to check signatures is missing"),
    "rewritten": _l("the chain was recomputed after a signed checkpoint"),
    "unknown_key": _l("a checkpoint was signed by an unknown key"),
    "bad_signature": _l("a checkpoint signature is invalid"),
}
KINDS = {
    "site.created": _l("Site created"),
    "user.created": _l("Account created"),
    "auth.login": _l("Signed in"),
    "auth.logout": _l("Signed out"),
    "auth.locked": _l("Account locked"),
    "shift.start": _l("Shift started"),
    "shift.handover": _l("Shift handed over"),
    "shift.reviewed": _l("Shift report reviewed"),
    "shift.approved": _l("Shift report approved"),
    "shift.note": _l("Supervisor note on an entry"),
    "journal.phone_call": _l("Phone call"),
    "journal.inspection": _l("Unit inspection visit"),
    "journal.complaint": _l("Complaint or enquiry"),
    "journal.patrol": _l("Patrol round"),
    "journal.note": _l("Note"),
    "follow_up.closed": _l("Promise closed"),
    "barrier.command": _l("Barrier ordered"),
    "barrier.outcome": _l("Barrier answered"),
    "vehicle.read": _l("Plate read"),
    "vehicle.prompt_handled": _l("Car prompt answered"),
    "device.online": _l("Device online"),
    "device.offline": _l("Device offline"),
    "site.topology": _l("Site layout loaded"),
    "visit.started": _l("Visitor registered"),
    "visit.host_answer": _l("Host answered"),
    "visit.admitted": _l("Visitor admitted"),
    "visit.checked_out": _l("Visitor left"),
    "visit.refused": _l("Visitor refused"),
    "visit.message_left": _l("Message left for the host"),
    "visit.watchlist_hit": _l("Watchlist match"),
    "approval.requested": _l("Supervisor approval requested"),
    "approval.decided": _l("Supervisor decided"),
    "incident.forced_entry": _l("Forced entry"),
    "incident.closed": _l("Incident closed"),
    "watchlist.added": _l("Added to the watchlist"),
    "watchlist.removed": _l("Removed from the watchlist"),
    "pass.created": _l("Visitor pass created"),
    "pass.revoked": _l("Visitor pass revoked"),
    "pass.used": _l("Pass used at the gate"),
    "pass.rejected": _l("Pass refused at the gate"),
    "resident.activation_issued": _l("Portal activation code issued"),
    "resident.registered": _l("Resident registered"),
    "resident.activated": _l("Resident portal account activated"),
    "resident.moved_out": _l("Resident moved out"),
    "slip.applied": _l("Release slip applied for"),
    "slip.consented": _l("Owner consented to a release slip"),
    "slip.approved": _l("Release slip approved"),
    "slip.refused": _l("Release slip refused"),
    "slip.released": _l("Goods released on a slip"),
    "slip.gate_refused": _l("Goods stopped at the gate"),
    "unit.fees_flag": _l("Unit fees flag changed"),
    "vehicle_list.added": _l("Plate added to a vehicle list"),
    "vehicle_list.removed": _l("Plate removed from a vehicle list"),
    "vehicle_list.imported": _l("Plates imported into the vehicle lists"),
    "resident_vehicle.added": _l("Resident's car registered"),
    "resident_vehicle.changed": _l("Resident's car changed"),
    "resident_vehicle.ended": _l("Resident's car registration ended"),
    "resident_vehicle.imported": _l("Residents' cars imported"),
    "parking.marked_left": _l("Car recorded as gone by the guard"),
    "violation.recorded": _l("Vehicle violation recorded"),
    "violation.photo_added": _l("Violation photo added"),
    "violation.reviewed": _l("Vehicle violation reviewed"),
    "violation_type.added": _l("Violation type added"),
    "violation_type.retired": _l("Violation type retired"),
    "script.changed": _l("Kiosk script reworded"),
    "post_order.created": _l("Post order issued"),
    "post_order.changed": _l("Post order changed"),
    "post_order.retired": _l("Post order withdrawn"),
    "deadline.overdue": _l("Deadline passed"),
    "shift.closed": _l("Shift closed by a supervisor"),
    "user.pin_reset": _l("PIN reset by a supervisor"),
    "user.disabled": _l("Account disabled"),
    "user.enabled": _l("Account enabled again"),
    "user.unlocked": _l("Account unlocked"),
    "person.exported": _l("Personal data exported on request"),
    "person.erased": _l("Personal data erased on request"),
    "retention.purged": _l("Old records purged (retention)"),
    "api_key.created": _l("Integration key created"),
    "api_key.revoked": _l("Integration key revoked"),
    "webhook.subscribed": _l("Webhook subscribed"),
    "webhook.removed": _l("Webhook removed"),
    "webhook.paused": _l("Webhook paused after failing deliveries"),
    "webhook.resumed": _l("Webhook resumed"),
}


STATES = {
    "open": _l("open"),
    "opening": _l("opening"),
    "closed": _l("closed"),
    "closing": _l("closing"),
    "fault": _l("fault"),
}


def fault_text(code: str) -> str:
    """Why the chain check failed, for a supervisor."""
    return str(FAULTS.get(code, code))


def kind_label(kind: str) -> str:
    """A shift-book entry type in words (the code itself when unknown)."""
    return str(KINDS.get(kind, kind))


def typed_day(text: str, *, end: bool) -> datetime | None:
    """A date typed as YYYY-MM-DD, in site time: its first moment, or for an end the first moment
    after it (so "until 2030-12-31" holds all that day); None when empty."""
    from gate.services import ActionError

    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_date", _l("Write dates as year-month-day, e.g. 2030-12-31, or leave "
                                         "them empty.")) from None
    zone = ZoneInfo(current_app.config["GATE_TIMEZONE"])
    return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=zone)


def first_day(moment: datetime | None) -> str:
    """The site-time date of a validity start, as typed into a form ("" for none)."""
    return localtime(moment, "%Y-%m-%d") if moment else ""


def last_day(moment: datetime | None) -> str:
    """The last date a validity ending at `moment` still holds (the inverse of typed_day end=True)."""
    return localtime(moment - timedelta(microseconds=1), "%Y-%m-%d") if moment else ""


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


PASS_STATUS = {
    "active": _l("valid now"),
    "upcoming": _l("not yet valid"),
    "expired": _l("expired"),
    "used_up": _l("used up"),
    "revoked": _l("revoked"),
}


def last_minute(moment: datetime | None) -> datetime | None:
    """A window's end as people read it: valid_until is exclusive, "until 23:59" is the minute before."""
    return moment - timedelta(minutes=1) if moment else None


def install(app: Flask) -> None:
    """Register the filters and globals with Jinja."""
    app.jinja_env.filters.update(localtime=localtime, entrytime=entrytime, mask_phone=mask_phone,
                                 last_minute=last_minute)
    app.jinja_env.globals.update(
        script=script, now=utcnow, get_locale=get_locale,
        kind_label=kind_label, state_label=lambda s: str(STATES.get(s, s)),
        equipment_label=lambda key: str(EQUIPMENT.get(key, key)),
        role_label=lambda role: str(ROLE_LABELS.get(role, role)),
        pass_status_label=lambda s: str(PASS_STATUS.get(s, s)))
