"""Charts and the PDF daily report per post (supervisor console): the numbers behind them come
from visits, parking sessions and violations made through the real services at known local
times; the SVGs hold their bars and labels; the PDF parses back with the post and the counts."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import pypdf
import pytest
from flask_babel import gettext
from markupsafe import escape
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.extensions import db
from gate.models import DeviceEvent, Post, Shift, Site, User
from gate.services import report_stats, shiftbook, sites, vehicles, violations, visitors, visits
from kiosk_ui.helpers import kind_label

BASE = "/console/charts/"
SUPERVISOR = ("supervisor", "supervisor-demo")
ZONE = ZoneInfo("Asia/Shanghai")


class Clock:
    """The services' "now", moved by the test (visits, plate reads and shift-book entries)."""

    def __init__(self, monkeypatch):
        self.now = datetime.now(ZONE)
        for module in (visits, vehicles):
            monkeypatch.setattr(module, "utcnow", lambda: self.now.astimezone(UTC))
        monkeypatch.setattr(shiftbook, "rfc3339_now", lambda: shiftbook.rfc3339(self.now))

    def at(self, day: date, hh: int, mm: int = 0) -> datetime:
        """Set the clock to hh:mm local time on `day`."""
        self.now = datetime.combine(day, time(hh, mm), tzinfo=ZONE)
        return self.now


def _user(**where) -> User:
    return db.session.scalars(select(User).filter_by(**where)).one()


def _demo_shift() -> Shift:
    """Yesterday's handed-over shift by guard 1002 at the east post (gate/services/demo.py)."""
    return db.session.scalars(select(Shift).where(Shift.guard_id == _user(staff_no="1002").id)).first()


def _said(app, msgid: str, **values) -> str:
    with app.test_request_context():
        return gettext(msgid, **values)


def _plate(clock: Clock, direction: str) -> None:
    camera = {"in": "anpr-in", "out": "anpr-out"}[direction]
    vehicles.handle_plate(PlateRead("demo", camera, f"evt-{uuid.uuid4().hex}", "粤B12345", 0.95,
                                    direction, clock.now))
    # Older reads leave the debounce window, so the next read of the plate is a new arrival.
    for event in db.session.scalars(select(DeviceEvent).where(DeviceEvent.kind == "plate")):
        event.received_at = clock.now - timedelta(minutes=10)
    db.session.commit()


def _activity(app, clock: Clock) -> tuple[date, int]:
    """Visits, cars and violations on the demo shift's local day; returns (day, post id).

    At the post (demo shift): 09:10 arrives, admitted 09:25 (15 min); 09:40 arrives, host declines
    09:50 (10 min); 10:05 arrives, refused 10:35 (30 min); 11:00 arrives, still waiting.
    Without a shift (site only): 23:30 arrives, admitted 23:45 (15 min); 00:30 the next day.
    Cars: the resident's car enters 08:20, leaves 12:00, enters 18:05.
    """
    with app.test_request_context():
        shift = _demo_shift()
        day = shift.started_at.astimezone(ZONE).date()
        guard = _user(staff_no="1001")

        def start(name: str, hh: int, mm: int, on_shift=True):
            clock.at(day, hh, mm)
            return visits.start(guard, shift if on_shift else None, "1-1-101",
                                visitors.check_identity(name, None, None))

        admitted = start("访客甲", 9, 10)
        visits.host_answer(admitted, "approved", by="phone", actor=guard)
        clock.at(day, 9, 25)
        visits.admit(admitted, guard, None)
        declined = start("访客乙", 9, 40)
        clock.at(day, 9, 50)
        visits.host_answer(declined, "declined", by="phone", actor=guard)
        refused = start("访客丙", 10, 5)
        clock.at(day, 10, 35)
        visits.refuse(refused, "no ID", guard)
        start("访客丁", 11, 0)
        late = start("访客戊", 23, 30, on_shift=False)
        visits.host_answer(late, "approved", by="phone", actor=guard)
        clock.at(day, 23, 45)
        visits.admit(late, guard, None)
        clock.at(day + timedelta(days=1), 0, 30)
        visits.start(guard, None, "1-1-101", visitors.check_identity("访客己", None, None))
        for hh, mm, direction in ((8, 20, "in"), (12, 0, "out"), (18, 5, "in")):
            clock.at(day, hh, mm)
            _plate(clock, direction)
        site = sites.current_site()
        noon = datetime.combine(day, time(12), tzinfo=ZONE)
        for code, days_ago, state in (("parking", 0, "open"), ("parking", 3, "confirmed"),
                                      ("driving", 5, "open"), ("parking", 6, "dismissed"),
                                      ("driving", 45, "open")):
            v = violations.record(site.id, guard, code, "粤B12345", "B2车库36号", "",
                                  occurred_at=noon - timedelta(days=days_ago))
            if state != "open":
                violations.review(v, _user(username="supervisor"), state, "核实")
        post_id = shift.post_id
        db.session.remove()
    return day, post_id


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The services' clock, set by the test."""
    return Clock(monkeypatch)


def _hours(**counts: int) -> list[int]:
    out = [0] * 24
    for hour, n in counts.items():
        out[int(hour[1:])] = n
    return out


def test_traffic_per_hour_in_site_time(app, clock):
    """Protects the traffic chart's numbers: visits and cars counted in the local hour they happened
    (23:30 local is hour 23 of that day, 00:30 belongs to the next day), and a post counts only
    its own shift's visits while the estate counts all."""
    day, post_id = _activity(app, clock)
    with app.test_request_context():
        site_id = sites.current_site().id
        everyone = report_stats.traffic(site_id, day)
        assert everyone.arrived == _hours(h9=2, h10=1, h11=1, h23=1)
        assert everyone.admitted == _hours(h9=1, h23=1)
        assert everyone.vehicles == _hours(h8=1, h18=1)
        post = report_stats.traffic(site_id, day, post_id)
        assert post.arrived == _hours(h9=2, h10=1, h11=1)
        assert post.admitted == _hours(h9=1)
        assert post.vehicles == _hours(h8=1, h18=1)
        assert report_stats.traffic(site_id, day + timedelta(days=1)).arrived == _hours(h0=1)


def test_wait_from_arrival_to_decision(app, clock):
    """Protects the wait chart's definition: admission, the host's decline and the guard's refusal
    all end a wait; a visit still waiting is counted apart, not as zero or as forever."""
    day, post_id = _activity(app, clock)
    with app.test_request_context():
        site_id = sites.current_site().id
        post = report_stats.waits(site_id, day, post_id)
        assert post.counts[9] == 2 and post.mean[9] == 12.5 and post.median[9] == 12.5
        assert post.counts[10] == 1 and post.mean[10] == 30
        assert (post.decided, post.undecided) == (3, 1)
        assert (post.overall_mean, post.overall_median) == (18.3, 15)
        everyone = report_stats.waits(site_id, day)
        assert everyone.counts[23] == 1 and everyone.mean[23] == 15
        assert (everyone.decided, everyone.undecided, everyone.overall_mean) == (4, 1, 17.5)


def test_violations_per_type_over_a_range(app, clock):
    """Protects the violations chart: dismissed ones and those outside the period are not counted."""
    day, _post = _activity(app, clock)
    with app.test_request_context():
        site_id = sites.current_site().id
        since, until = report_stats.default_violation_range(day)
        assert report_stats.violations_by_type(site_id, since, until) == [("parking", 2), ("driving", 1)]
        assert report_stats.violations_by_type(site_id, day, day) == [("parking", 1)]
        assert report_stats.violations_by_type(site_id, day - timedelta(days=60), day) == [
            ("driving", 2), ("parking", 2)]


def _supervisor(client, kiosk):
    assert kiosk.login_staff(*SUPERVISOR).status_code == 302


def test_svg_charts_hold_bars_and_labels(app, client, kiosk, clock):
    """Protects the printable charts: SVG served as image/svg+xml, titled, with hour and type labels,
    a CJK font a browser can resolve, and one bar label per counted type."""
    day, post_id = _activity(app, clock)
    _supervisor(client, kiosk)
    traffic = client.get(f"{BASE}traffic.svg", query_string={"day": day.isoformat(), "post": post_id})
    assert traffic.status_code == 200 and traffic.mimetype == "image/svg+xml"
    svg = traffic.get_data(True)
    title = _said(app, "Traffic per hour, %(day)s", day=day.isoformat())
    assert f"<title>{xml_escape(title)}</title>" in svg and f">{xml_escape(title)}</text>" in svg
    assert ">23</text>" in svg and ">0</text>" in svg
    assert f">{xml_escape(_said(app, 'Vehicles entered'))}</text>" in svg
    assert "Noto Sans CJK SC" in svg and "font-family: STSong-Light" not in svg
    bars = client.get(f"{BASE}violations.svg", query_string={"from": (day - timedelta(days=29)).isoformat(),
                                                              "to": day.isoformat()}).get_data(True)
    with app.test_request_context():
        names = {k.code: str(k.name) for k in violations.types_for(sites.current_site().id)}
    assert f">{names['parking']}</text>" in bars and f">{names['driving']}</text>" in bars
    assert bars.count(">2</text>") >= 1 and bars.count(">1</text>") >= 1
    waits = client.get(f"{BASE}waits.svg", query_string={"day": day.isoformat()})
    note = _said(app, "From registration at the desk to admission, refusal or the host's decline; "
                 "%(n)d visits decided, %(u)d not decided.", n=4, u=1)
    assert waits.status_code == 200 and f">{xml_escape(note)}</text>" in waits.get_data(True)


def test_charts_page_shows_totals_and_images(app, client, kiosk, clock):
    """Protects the charts page: the day's totals and the three chart images for that day and post."""
    day, post_id = _activity(app, clock)
    _supervisor(client, kiosk)
    page = client.get(BASE, query_string={"day": day.isoformat(), "post": post_id})
    html = page.get_data(True)
    assert page.status_code == 200
    assert f"traffic.svg?day={day.isoformat()}&amp;post={post_id}" in html
    assert "<tr><td>4</td><td>1</td><td>2</td></tr>" in html
    assert 'data-testid="violations-chart"' in html and 'data-testid="waits-chart"' in html
    assert f"daily.pdf?post={post_id}&amp;day={day.isoformat()}" in html
    assert "东门岗亭" in html
    summary = _said(app, "Average %(mean)s min, median %(median)s min over %(n)d visits.",
                    mean="18.3", median="15", n=3)
    assert str(escape(summary)) in html


def test_shift_report_links_to_its_days_pdf(app, client, kiosk):
    """Protects the way from a shift report to the printable report of its post and local day."""
    with app.app_context():
        shift = _demo_shift()
        shift_id, post_id, day = shift.id, shift.post_id, shift.started_at.astimezone(ZONE).date()
        db.session.remove()
    _supervisor(client, kiosk)
    html = client.get(f"/console/shifts/{shift_id}").get_data(True)
    assert f'href="{BASE}daily.pdf?post={post_id}&amp;day={day.isoformat()}" data-testid="daily-pdf"' in html


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_daily_pdf_parses_back_with_the_counts(app, client, kiosk, clock):
    """Protects the printed daily report: a PDF download named after post and day whose text holds
    estate, post, date, each entry type's count, the traffic totals and both guards' handover."""
    day, post_id = _activity(app, clock)
    _supervisor(client, kiosk)
    response = client.get(f"{BASE}daily.pdf", query_string={"post": post_id, "day": day.isoformat()})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="daily-report-east-{day.isoformat()}.pdf"')
    assert response.data.startswith(b"%PDF")
    text = _pdf_text(response.data)
    # pypdf reads STSong-Light text back as Unicode (UniGB-UCS2-H), Chinese included.
    for needle in ("演示小区", "东门岗亭", day.isoformat(), "李保安", "张保安",
                   _said(app, "Daily report of the post"), _said(app, "signature valid")):
        assert needle in text, needle
    lines = text.splitlines()
    expected = {"journal.patrol": 1, "shift.start": 1, "shift.handover": 1, "visit.started": 4,
                "visit.host_answer": 2, "visit.admitted": 1, "visit.refused": 1}
    with app.test_request_context():
        labels = {kind: kind_label(kind) for kind in expected}
    for kind, n in expected.items():
        at = lines.index(labels[kind])
        assert lines[at + 1] == str(n), (kind, lines[at:at + 2])
    total = lines.index(_said(app, "Total"))
    assert lines[total + 1] == str(sum(expected.values()) + 4)  # + phone call, inspection, complaint, note
    head = lines.index(_said(app, "Average wait (min)"))
    assert lines[head + 1:head + 5] == ["4", "1", "2", "18.3"]


def _other_post(app) -> int:
    with app.app_context():
        site = Site(code="other", name="别的小区")
        db.session.add(site)
        db.session.flush()
        post = Post(site_id=site.id, code="north", name="北门岗亭")
        db.session.add(post)
        db.session.commit()
        post_id = post.id
        db.session.remove()
    return post_id


def test_pdf_refuses_unknown_posts_and_absurd_days(app, client, kiosk):
    """Protects the estate boundary and input checks: another estate's post and a missing post are
    404 with a message, an impossible or absurd day is 400 with a message, nothing else leaks."""
    other = _other_post(app)
    _supervisor(client, kiosk)
    unknown = _said(app, "There is no such post at this estate. Choose one from the list.")
    for post in (str(other), "999999", "abc", ""):
        response = client.get(f"{BASE}daily.pdf", query_string={"post": post, "day": "2026-03-14"})
        assert response.status_code == 404, post
        assert str(escape(unknown)) in response.get_data(True)
    with app.app_context():
        mine = db.session.scalars(select(Post.id).where(Post.code == "east")).first()
        db.session.remove()
    for day in ("2026-02-30", "yesterday", "0001-01-01", "9999-12-31", ""):
        response = client.get(f"{BASE}daily.pdf", query_string={"post": mine, "day": day})
        assert response.status_code == 400, day
        assert response.mimetype == "text/html" and 'data-testid="error-message"' in response.get_data(True)


def test_bad_dates_and_ranges_get_a_message(app, client, kiosk):
    """Protects the charts page and SVGs against hand-edited links: a bad date, a reversed range and
    a range over 366 days are refused with a message, never a crash or a silently swapped range."""
    _supervisor(client, kiosk)
    reversed_range = _said(app, "The end date is before the start date. Swap them and try again.")
    too_long = _said(app, "Choose at most %(n)d days at a time.", n=366)
    bad_date = _said(app, "Write dates as year-month-day, e.g. 2030-12-31.")
    cases = [({"day": "2026-13-01"}, bad_date), ({"from": "2026-03-10", "to": "2026-03-01"}, reversed_range),
             ({"from": "2024-01-01", "to": "2026-01-01"}, too_long)]
    for args, message in cases:
        page = client.get(BASE, query_string=args)
        assert page.status_code == 200 and str(escape(message)) in page.get_data(True), args
    assert client.get(BASE, query_string={"from": "2025-01-01", "to": "2026-01-01"}).get_data(True).count(
        'data-testid="chart-error"') == 0  # 366 days is allowed
    response = client.get(f"{BASE}violations.svg", query_string={"from": "2026-03-10", "to": "2026-03-01"})
    assert response.status_code == 400 and str(escape(reversed_range)) in response.get_data(True)
    assert client.get(f"{BASE}traffic.svg", query_string={"day": "x"}).status_code == 400
    assert client.get(f"{BASE}waits.svg", query_string={"post": "999999"}).status_code == 400


@pytest.mark.parametrize("path", ["", "traffic.svg", "violations.svg", "waits.svg",
                                  "daily.pdf?post=1&day=2026-03-14"])
def test_guard_cannot_open_charts_or_reports(client, kiosk, path):
    """Protects the console: a guard signed in at the kiosk gets 403 on every chart and the PDF."""
    kiosk.login()
    assert client.get(f"{BASE}{path}").status_code == 403
