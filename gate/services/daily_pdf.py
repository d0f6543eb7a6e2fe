"""The printable daily report of one post for one local day (PDF, reportlab platypus).

It holds the estate and post, the date, the activity summary (shift-book entries per type
written during that day by the post's shifts), each shift with its guards and handover (both
guards, time, signed checkpoint and whether its signature holds), the open items carried over,
the day's traffic totals and the traffic chart. Text is Chinese by default (Flask-Babel), set
in reportlab's built-in CID font so no font file is needed.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select

from gate.extensions import db
from gate.models import Checkpoint, Post, Shift, ShiftBookEntry, Site
from gate.services import charts, report_stats, shift_review, signing
from gate.services.shiftbook import rfc3339
from gate.services.shifts import shifts_between

Label = Callable[[str], str]


@dataclass(frozen=True)
class Handover:
    """One shift of the day as the report prints it."""

    shift: Shift
    entry: ShiftBookEntry | None
    checkpoint: Checkpoint | None
    signature_ok: bool | None
    open_items: list[tuple[str, bool]]


def checkpoint_of(handover: ShiftBookEntry | None) -> tuple[Checkpoint | None, bool | None]:
    """The checkpoint signed at a handover and whether its signature holds (None: no key)."""
    if handover is None:
        return None, None
    cp = db.session.scalars(select(Checkpoint).where(Checkpoint.site == handover.site,
                                                     Checkpoint.seq == handover.seq)).first()
    if cp is None:
        return None, None
    public = signing.load_public_key(Path(current_app.config["GATE_SIGNING_KEY_PATH"]))
    if public is None:
        return cp, None
    message = signing.checkpoint_message(cp.site, cp.seq, cp.row_hash, cp.signed_at)
    return cp, cp.row_hash == handover.row_hash and signing.verify_signature(public, cp.signature, message)


def day_shifts(post: Post, day: date) -> list[Shift]:
    """The post's shifts overlapping the local day, earliest first."""
    start, end = report_stats.day_bounds(day)
    return sorted((s for s in shifts_between(post.site_id, start, end) if s.post_id == post.id),
                  key=lambda s: (s.started_at, s.id))


def summary(post: Post, day: date) -> tuple[list[tuple[str, int]], list[Handover]]:
    """Entries per type written during the day by the post's shifts, and each shift's handover."""
    start, end = (rfc3339(t) for t in report_stats.day_bounds(day))
    counts: Counter[str] = Counter()
    handovers = []
    for shift in day_shifts(post, day):
        rep = shift_review.report(shift)
        counts.update(e.kind for e in rep.timeline if start <= e.at < end)
        cp, ok = checkpoint_of(rep.handover)
        handovers.append(Handover(shift, rep.handover, cp, ok, rep.open_items))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), handovers


def traffic_drawing(stats: report_stats.Traffic):
    """The traffic-per-hour chart, titled and labelled in the current language."""
    return charts.bar_chart(
        _("Traffic per hour, %(day)s", day=stats.day.isoformat()), charts.hour_labels(),
        [(_("Visitors arrived"), stats.arrived), (_("Visitors admitted"), stats.admitted),
         (_("Vehicles entered"), stats.vehicles)],
        x_label=_("Hour of the day (estate time)"), y_label=_("Count"),
        note=_("Arrived: registered at the desk. Vehicles: cars let in (camera or guard)."))


def _styles() -> dict[str, ParagraphStyle]:
    charts.register_fonts()
    base = ParagraphStyle("body", fontName=charts.FONT, fontSize=10, leading=14, wordWrap="CJK")
    return {"body": base,
            "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, spaceAfter=4),
            "h2": ParagraphStyle("h2", parent=base, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4),
            "hint": ParagraphStyle("hint", parent=base, fontSize=8, textColor=colors.grey)}


def _table(rows: list[list], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), charts.FONT), ("FONTSIZE", (0, 0), (-1, -1), 9),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _local(moment) -> str:
    return moment.astimezone(report_stats.site_zone()).strftime("%Y-%m-%d %H:%M") if moment else ""


def _signature(item: Handover) -> str:
    if item.checkpoint is None:
        return _("No signed checkpoint for this handover.")
    state = (_("cannot be checked: no public key") if item.signature_ok is None
             else _("signature valid") if item.signature_ok else _("signature invalid"))
    return _("Signed checkpoint at entry %(seq)d: %(state)s", seq=item.checkpoint.seq, state=state)


def _handover_lines(item: Handover, st: dict, open_item_label: Label) -> list:
    shift = item.shift
    p = [Paragraph(escape(_("%(guard)s, %(start)s – %(end)s", guard=shift.guard.display_name,
                            start=_local(shift.started_at),
                            end=_local(shift.ended_at) or _("on shift"))), st["h2"])]
    if item.entry is None:
        return p + [Paragraph(escape(_("Not handed over yet.")), st["body"])]
    incoming = shift.relieved_by.display_name if shift.relieved_by else "?"
    p.append(Paragraph(escape(_("Handed over by %(outgoing)s to %(incoming)s at %(t)s; both confirmed "
                                "with their PINs.", outgoing=shift.guard.display_name,
                                incoming=incoming, t=_local(shift.ended_at))), st["body"]))
    p.append(Paragraph(escape(_signature(item)), st["body"]))
    items = [open_item_label(kind) + (" (" + _("overdue") + ")" if late else "")
             for kind, late in item.open_items] or [_("Nothing was open at the handover.")]
    p.append(Paragraph(escape(_("Open items carried over") + ": " + "; ".join(items)), st["body"]))
    return p


def build(post: Post, day: date, *, kind_label: Label = str, open_item_label: Label = str) -> bytes:
    """The PDF daily report of `post` for the local `day`, as bytes."""
    site = db.session.get(Site, post.site_id)
    st = _styles()
    counts, handovers = summary(post, day)
    stats = report_stats.traffic(post.site_id, day, post.id)
    waits = report_stats.waits(post.site_id, day, post.id)
    title = _("Daily report of the post")
    story: list = [Paragraph(escape(title), st["title"]),
                   Paragraph(escape(f"{site.name if site else ''} · {post.name} · {day.isoformat()}"),
                             st["h2"])]
    story.append(Paragraph(escape(_("Activity summary")), st["h2"]))
    rows = [[_("Type"), _("Count")]] + [[kind_label(kind), str(n)] for kind, n in counts]
    rows.append([_("Total"), str(sum(n for _k, n in counts))])
    story.append(_table(rows, [110 * mm, 30 * mm]))
    story.append(Paragraph(escape(_("Traffic")), st["h2"]))
    story.append(_table([[_("Visitors arrived"), _("Visitors admitted"), _("Vehicles entered"),
                          _("Average wait (min)")],
                         [str(sum(stats.arrived)), str(sum(stats.admitted)), str(sum(stats.vehicles)),
                          "—" if waits.overall_mean is None else f"{waits.overall_mean:g}"]],
                        [40 * mm] * 4))
    story.append(Paragraph(escape(_("Wait: from registration at the desk to admission or refusal "
                                    "(%(n)d visits decided, %(u)d not decided).", n=waits.decided,
                                    u=waits.undecided)), st["hint"]))
    story.append(Spacer(1, 4 * mm))
    drawing = traffic_drawing(stats)
    scale = (A4[0] - 40 * mm) / drawing.width
    drawing.scale(scale, scale)
    drawing.width, drawing.height = drawing.width * scale, drawing.height * scale
    story.append(drawing)
    story.append(Paragraph(escape(_("Shifts and handovers")), st["h2"]))
    for item in handovers:
        story.extend(_handover_lines(item, st, open_item_label))
    if not handovers:
        story.append(Paragraph(escape(_("No shift at this post on that day.")), st["body"]))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm, title=title,
                            author=site.name if site else "", subject=f"{post.name} {day.isoformat()}")
    doc.build(story)
    return buffer.getvalue()
