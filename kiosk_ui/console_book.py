"""Supervisor console: search the shift book and export what was found as CSV.

Filters travel as GET parameters so "older" links and the CSV repeat the same search, except an
ID number: it is posted, turned into its keyed hash at once and only the hash is carried on.
"""

from __future__ import annotations

import json

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gate.models import Role, ShiftBookEntry
from gate.services import ActionError, auth, book_search
from gate.services.sites import current_site, posts
from kiosk_ui.csv_export import csv_response
from kiosk_ui.forms import PlainForm, require_token
from kiosk_ui.helpers import KINDS, entrytime, kind_label
from kiosk_ui.privacy import ID_KINDS

bp = Blueprint("console_book", __name__, url_prefix="/console/book")
supervisors = auth.roles_required(Role.SUPERVISOR, Role.ADMIN)

SUMMARY_SKIP = {"digest"}  # hashes of kept text: meaningless to a reader
SUMMARY_LIMIT = 120


def summary(entry: ShiftBookEntry) -> str:
    """A short line from the entry's data (ids and codes only: entries hold no personal data)."""
    try:
        data = json.loads(entry.data)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    text = " · ".join(f"{k}={v}" for k, v in sorted(data.items())
                      if k not in SUMMARY_SKIP and v not in (None, "", [], {}))
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1] + "…"


def _narrowed_text(narrowed: list[str]) -> str:
    if not narrowed:
        return ""
    return _("More than %(n)d records matched one of the filters; only the newest were searched. "
             "Add dates or more filters to see everything.", n=book_search.ID_CAP)


def _page(filters: book_search.Filters, *, page=None, error: str = "", status: int = 200):
    site = current_site()
    names = book_search.names_for(page.entries) if page else None
    return render_template("console/book.html", filters=filters, page=page, names=names, error=error,
                           kinds=KINDS, guards=book_search.guards(site), posts=posts(site),
                           gates=book_search.gates(site), id_kinds=ID_KINDS,
                           narrowed=_narrowed_text(page.narrowed if page else []),
                           summary=summary, csv_limit=book_search.CSV_LIMIT,
                           form=PlainForm()), status


@bp.get("/")
@supervisors
def search():
    """The filter form and, newest first, one page of matching entries."""
    filters = book_search.Filters.from_args(request.args)
    try:
        before = book_search.parse_before(request.args.get("before"))
        page = book_search.search(current_site(), filters, after_seq=before)
    except ActionError as exc:
        return _page(filters, error=exc.message, status=422)
    return _page(filters, page=page)


@bp.post("/")
@supervisors
def by_id_number():
    """Search with a typed ID number: only its keyed hash goes into the search link."""
    require_token()
    filters = book_search.Filters.from_args(request.form)
    try:
        filters.id_hash = book_search.hash_id_number(request.form.get("id_type"),
                                                     request.form.get("id_number"))
    except ActionError as exc:
        return _page(filters, error=exc.message, status=422)
    return redirect(url_for("console_book.search", **filters.query_args()), 303)


@bp.get("/export.csv")
@supervisors
def export():
    """The entries matching the current filters as CSV (newest first, capped)."""
    filters = book_search.Filters.from_args(request.args)
    try:
        entries, _more = book_search.rows_for_csv(current_site(), filters)
    except ActionError as exc:
        return _page(filters, error=exc.message, status=422)
    names = book_search.names_for(entries)
    header = [_("No."), _("Time"), _("Entry type"), _("Guard"), _("Post"), _("Gate"), _("Shift"),
              _("Details")]
    rows = ([e.seq, entrytime(e.at), kind_label(e.kind), names.users.get(e.actor_id, ""),
             names.posts.get(e.post_id, ""), names.gates.get(e.gate_id, ""), e.shift_id or "",
             summary(e)] for e in entries)
    return csv_response(header, rows, "shift-book.csv")
