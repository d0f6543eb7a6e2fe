"""A second estate, `north`, in the test's database beside the demo, for isolation tests.

`build_north(app)` makes north through the real services (sites, topology, users, visits,
passes, slips, violations, vehicle lists, watchlist, journal, plate reads) under
`g.site_code = "north"`, so every shift-book entry lands on north's own chain. Its people,
units and plates carry marker strings (MARKERS) that must never appear in the demo's pages.
The ids of north's records come back in a `North`, keyed by the URL argument they fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, g
from sqlalchemy import select

from gate.domain.events import PlateRead
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import Device, DeviceEvent, FollowUp, ParkingSession, Post, Resident, Site, Unit, Vehicle
from gate.models.types import utcnow
from gate.services import journal as journal_service
from gate.services import (
    passes,
    post_orders,
    shifts,
    slips,
    topology,
    transaction,
    vehicle_lists,
    vehicles,
    violations,
    visitors,
    visits,
    watchlist,
)
from gate.services.users import add_user

SITE = "north"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SITE_NAME = "北区测试小区"
# Strings only north's records hold; a demo page showing any of them leaks north's data.
OWNER = "北区测试业主"
VISITOR = "北区测试访客"
WORKER = "北区测试师傅"
GUARD_NAME = "北区测试保安"
OWNER_PHONE = "13911112222"
VISITOR_PHONE = "13933334444"
VISITOR_ID = "110105198001010016"  # a valid resident ID number, not used by the demo
CAR_PLATE = "黑M77771"
PASS_PLATE = "黑M77772"
BLOCK_PLATE = "黑M77773"
WATCH_PLATE = "黑M77774"
VIOLATION_PLATE = "黑M77775"
STRANGER_PLATE = "黑M77776"
UNIT = "8-8-808"
MARKERS = (OWNER, VISITOR, WORKER, GUARD_NAME, "北区测试", OWNER_PHONE, VISITOR_PHONE,
           "黑M7777", UNIT, "8栋8单元808")
# Logins of north's accounts (none of them exists in the demo).
GUARD_LOGIN = ("8801", "246810")
PASSWORD_LOGINS = {"supervisor": ("north-sup", "north-sup-pass"),
                   "desk": ("north-desk", "north-desk-pass"),
                   "admin": ("north-admin", "north-admin-pass"),
                   "resident": (OWNER_PHONE, "north-resident-pass")}

SITE_FILE = f"""
[site]
code = "{SITE}"
name = "{SITE_NAME}"
address = "北区测试路 8 号"
units = ["{UNIT}", "8-8-809"]

[[posts]]
code = "nx"
name = "北区测试岗亭"

[[posts.gates]]
code = "ncar"
name = "北区测试车行道"
kind = "vehicle"

[[posts.gates.lanes]]
code = "in"
direction = "in"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "n-car-in"
name = "北区测试道闸"
profile = "native"

[[posts.gates.lanes.devices]]
kind = "camera"
id = "n-anpr-in"
name = "北区测试相机"
profile = "native"

[[posts.gates]]
code = "nwalk"
name = "北区测试人行道"
kind = "pedestrian"

[[posts.gates.lanes]]
code = "in"
direction = "both"

[[posts.gates.lanes.devices]]
kind = "barrier"
id = "n-walk-in"
name = "北区测试闸机"
profile = "native"
"""


@dataclass
class North:
    """North's record ids by the URL argument they fill, plus its tokens and site id."""

    site_id: int = 0
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    device_codes: list[str] = field(default_factory=list)


def build_north(app: Flask) -> North:
    """Create the north estate with a bit of everything; returns the ids of its records."""
    with app.test_request_context():
        g.site_code = SITE
        return _build()


def _build() -> North:
    north = North()
    with transaction():
        topology.apply_topology(topology.parse_site_text(SITE_FILE, "<north>"))
    site = db.session.scalars(select(Site).where(Site.code == SITE)).one()
    north.site_id = site.id
    post = db.session.scalars(select(Post).where(Post.site_id == site.id)).one()
    unit = db.session.scalars(select(Unit).where(Unit.site_id == site.id, Unit.code == UNIT)).one()
    north.device_codes = list(db.session.scalars(select(Device.code).where(Device.site_id == site.id)))
    with transaction():
        guard = add_user(site, role="guard", username="north8801", display_name=GUARD_NAME,
                         staff_no=GUARD_LOGIN[0], pin=GUARD_LOGIN[1])
        sup = add_user(site, role="supervisor", username=PASSWORD_LOGINS["supervisor"][0],
                       display_name="北区测试队长", password=PASSWORD_LOGINS["supervisor"][1])
        desk = add_user(site, role="service_desk", username=PASSWORD_LOGINS["desk"][0],
                        display_name="北区测试客服", password=PASSWORD_LOGINS["desk"][1])
        add_user(site, role="admin", username=PASSWORD_LOGINS["admin"][0],
                 display_name="北区测试管理员", password=PASSWORD_LOGINS["admin"][1])
        account = add_user(site, role="resident", username=f"r{OWNER_PHONE}", display_name=OWNER,
                           password=PASSWORD_LOGINS["resident"][1], phone=OWNER_PHONE)
        resident = Resident(unit_id=unit.id, user_id=account.id, name=OWNER, phone=OWNER_PHONE)
        db.session.add(resident)
        db.session.flush()
        car = Vehicle(site_id=site.id, resident_id=resident.id, plate=normalize_plate(CAR_PLATE))
        db.session.add(car)
    north.ids.update(guard_id=guard.id, resident_id=resident.id, unit_id=unit.id, vehicle_id=car.id,
                     post_id=post.id)

    shift = shifts.start_shift(guard, post, set())
    north.ids["shift_id"] = shift.id
    order = post_orders.create(sup, "standing", "security", "北区测试指令", "北区测试指令正文", None, None)
    north.ids["order_id"] = order.id
    record = journal_service.write(guard, shift, "complaint",
                                   {"topic": "北区测试投诉", "summary": "北区测试投诉内容",
                                    "forwarded": "yes",
                                    "unit": UNIT})
    north.ids["follow_id"] = db.session.scalars(select(FollowUp.id).where(FollowUp.site_id == site.id)).one()
    north.ids["journal_id"] = record.id

    identity = visitors.check_identity(VISITOR, "resident_id", VISITOR_ID, VISITOR_PHONE)
    visit = visits.start(guard, shift, UNIT, identity, purpose="北区测试来访", plate=PASS_PLATE)
    approval = visits.escalate(visit, "forgot_id", guard)
    north.ids.update(visit_id=visit.id, visitor_id=visit.visitor_id, approval_id=approval.id)
    second = visits.start(guard, shift, UNIT, visitors.check_identity("北区测试闯入者", None, None),
                          purpose="北区测试")
    incident = visits.forced_entry(second, "北区测试强行进入", guard, shift)
    north.ids["incident_id"] = incident.id

    visitor_pass = passes.create(resident, account, name=VISITOR, phone=VISITOR_PHONE, plate=PASS_PLATE)
    north.ids["pass_id"] = visitor_pass.id
    north.tokens["pass"] = passes.token_for(visitor_pass)
    worker = passes.issue_worker_pass(desk, unit, name=WORKER, id_number=VISITOR_ID, employer="北区测试装修",
                                      starts_on=None, ends_on=None, daily_from="00:00", daily_until="23:59")
    north.ids["worker_pass_id"] = worker.id

    slip = slips.apply(account, unit, resident, via="portal", lines=[("北区测试沙发", 1)], on_date=None,
                       carrier_name="北区测试搬运", carrier_phone="13955556666")
    slip = slips.approve(desk, slip)
    north.ids["slip_id"] = slip.id
    north.tokens["slip"] = slips.token_for(slip)
    north.tokens["slip_serial"] = slip.serial

    kind = violations.add_type(sup, "北区测试违停", "北区测试话术")
    north.ids["type_id"] = kind.id
    violation = violations.record(site.id, guard, "parking", VIOLATION_PLATE, "北区测试车库",
                                  "北区测试备注", photos=[(PNG, "upload")], shift=shift)
    north.ids["violation_id"] = violation.id
    north.ids["photo_id"] = violation.photos[0].id

    blocked = vehicle_lists.add(sup, "blocklist", BLOCK_PLATE, "北区测试黑名单")
    north.ids["list_entry_id"] = blocked.id
    listed = watchlist.add(sup, "plate", "北区测试观察", plate=WATCH_PLATE)
    north.ids["watch_entry_id"] = listed.id

    # A stranger's car at north's camera: a vehicle prompt (device event).
    read = PlateRead(SITE, "n-anpr-in", "north-evt-1", STRANGER_PLATE, 0.95, "in", utcnow())
    vehicles.handle_plate(read)
    north.ids["event_id"] = db.session.scalars(select(DeviceEvent.id).where(
        DeviceEvent.site == SITE, DeviceEvent.event_id == read.event_id)).one()
    # North's own car comes in: a parking stay.
    vehicles.handle_plate(PlateRead(SITE, "n-anpr-in", "north-evt-2", CAR_PLATE, 0.95, "in", utcnow()))
    north.ids["session_id"] = db.session.scalars(
        select(ParkingSession.id).where(ParkingSession.site_id == site.id)).one()
    return north
