"""Charts (traffic per hour, violations per type, wait time) and the PDF daily report per post.

The charts are drawn on the server (gate.services.charts) and served as SVG, so the page prints
as it shows; the PDF places the same drawing. Days are local days at the estate; a post is
looked up through the estate, so another site's post is a plain 404.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from gate.domain.ids import parse_id
from gate.extensions import db
from gate.models import Post, Role
from gate.services import ActionError, auth, charts, daily_pdf, report_stats
from kiosk_ui.console_shifts import OPEN_ITEM_KINDS
from kiosk_ui.helpers import kind_label
from kiosk_ui.kiosk_violations import kinds_for

bp = Blueprint("console_charts", __name__, url_prefix="/console/charts")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

MAX_RANGE_DAYS = 366
EARLIEST = date(2000, 1, 1)
SVG = "image/svg+xml"


def _today() -> date:
    return datetime.now(report_stats.site_zone()).date()


def _day(text: str, *, default: date | None = None) -> date:
    """A typed YYYY-MM-DD local day (default when empty); absurd days are refused."""
    text = (text or "").strip()[:20]
    if not text and default is not None:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ActionError("bad_date", _l("Write dates as year-month-day, e.g. 2030-12-31.")) from None
    if not EARLIEST <= day <= _today() + timedelta(days=1):
        raise ActionError("bad_date", _l("Choose a day between %(first)s and tomorrow.",
                                         first=EARLIEST.isoformat()))
    return day


def _range(since_text: str, until_text: str) -> tuple[date, date]:
    """The violation chart's period: the dates typed, else the last 30 days; at most 366 days."""
    default_since, default_until = report_stats.default_violation_range(_today())
    until = _day(until_text, default=default_until)
    since = _day(since_text, default=until - (default_until - default_since))
    if until < since:
        raise ActionError("bad_range", _l("The end date is before the start date. Swap them and try again."))
    if (until - since).days + 1 > MAX_RANGE_DAYS:
        raise ActionError("range_too_long", _l("Choose at most %(n)d days at a time.", n=MAX_RANGE_DAYS))
    return since, until


def _post(text: str, *, required: bool = False) -> Post | None:
    """One of this estate's posts by id; another estate's post is as unknown as a missing one."""
    text = (text or "").strip()
    if not text and not required:
        return None
    post_id = parse_id(text)
    post = db.session.get(Post, post_id) if post_id else None
    if post is None or post.site_id != current_user.site_id:
        raise ActionError("unknown_post", _l("There is no such post at this estate. Choose one from "
                                             "the list."))
    return post


def _refused(exc: ActionError, status: int = 400):
    return render_template("error.html", status=status, message=exc.message), status


def _svg(drawing, title: str) -> Response:
    return Response(charts.to_svg(drawing, title), mimetype=SVG, headers={"Cache-Control": "no-store"})


def _violation_drawing(since: date, until: date):
    rows = report_stats.violations_by_type(current_user.site_id, since, until)
    kinds = kinds_for(current_user.site_id, [])
    names = [str(kinds[code].name) if code in kinds else code for code, _n in rows]
    title = _("Violations per type, %(since)s – %(until)s", since=since.isoformat(), until=until.isoformat())
    drawing = charts.bar_chart(title, names or [_("none")], [(_("Violations"), [n for _c, n in rows] or [0])],
                               x_label=_("Type"), y_label=_("Count"), value_labels=True,
                               note=_("Dismissed violations are not counted."))
    return drawing, title, list(zip(names, (n for _c, n in rows), strict=True))


def _wait_drawing(day: date, post: Post | None):
    stats = report_stats.waits(current_user.site_id, day, post.id if post else None)
    title = _("Wait from arrival to decision, %(day)s", day=day.isoformat())
    drawing = charts.bar_chart(
        title, charts.hour_labels(), [(_("Average (min)"), stats.mean), (_("Median (min)"), stats.median)],
        x_label=_("Hour of arrival (estate time)"), y_label=_("Minutes"),
        note=_("From registration at the desk to admission, refusal or the host's decline; "
               "%(n)d visits decided, %(u)d not decided.", n=stats.decided, u=stats.undecided))
    return drawing, title, stats


@bp.get("/")
@supervisors
def page():
    """The charts page: traffic and waits for a day (and post), violations per type for a period."""
    values = {key: request.args.get(key, "").strip()[:20] for key in ("day", "post", "from", "to")}
    posts = db.session.scalars(select(Post).where(Post.site_id == current_user.site_id)
                               .order_by(Post.code)).all()
    errors: list[str] = []
    day = post = period = None
    try:
        day, post = _day(values["day"], default=_today()), _post(values["post"])
    except ActionError as exc:
        errors.append(exc.message)
    try:
        period = _range(values["from"], values["to"])
    except ActionError as exc:
        errors.append(exc.message)
    traffic = waits = None
    if day is not None:
        traffic = report_stats.traffic(current_user.site_id, day, post.id if post else None)
        waits = report_stats.waits(current_user.site_id, day, post.id if post else None)
    violations = _violation_drawing(*period)[2] if period else []
    return render_template("console/charts.html", values=values, posts=posts, post=post, day=day,
                           period=period, errors=errors, traffic=traffic, waits=waits,
                           violations=violations)


@bp.get("/traffic.svg")
@supervisors
def traffic_svg():
    """Visitors arrived and admitted, vehicles entered, per hour of a day (SVG)."""
    try:
        day, post = _day(request.args.get("day", ""), default=_today()), _post(request.args.get("post", ""))
    except ActionError as exc:
        return _refused(exc)
    stats = report_stats.traffic(current_user.site_id, day, post.id if post else None)
    return _svg(daily_pdf.traffic_drawing(stats), _("Traffic per hour, %(day)s", day=day.isoformat()))


@bp.get("/waits.svg")
@supervisors
def waits_svg():
    """Average and median wait from arrival to decision, per hour of arrival (SVG)."""
    try:
        day, post = _day(request.args.get("day", ""), default=_today()), _post(request.args.get("post", ""))
    except ActionError as exc:
        return _refused(exc)
    drawing, title, _stats = _wait_drawing(day, post)
    return _svg(drawing, title)


@bp.get("/violations.svg")
@supervisors
def violations_svg():
    """Violations per type over a period (SVG)."""
    try:
        period = _range(request.args.get("from", ""), request.args.get("to", ""))
    except ActionError as exc:
        return _refused(exc)
    drawing, title, _rows = _violation_drawing(*period)
    return _svg(drawing, title)


@bp.get("/daily.pdf")
@supervisors
def daily():
    """The PDF daily report of one post for one day (download)."""
    try:
        post = _post(request.args.get("post", ""), required=True)
    except ActionError as exc:
        return _refused(exc, 404)
    try:
        day = _day(request.args.get("day", ""))
    except ActionError as exc:
        return _refused(exc)
    body = daily_pdf.build(post, day, kind_label=kind_label,
                           open_item_label=lambda kind: str(OPEN_ITEM_KINDS.get(kind, kind)))
    # Only safe characters in the header; the code comes from the site file.
    filename = f"daily-report-{re.sub(r'[^A-Za-z0-9_-]', '', post.code) or post.id}-{day.isoformat()}.pdf"
    return Response(body, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
