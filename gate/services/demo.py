"""The demo estate named in SPEC §4, loaded idempotently by `gate demo`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from gate.domain.chain import record_digest
from gate.domain.plates import normalize_plate
from gate.extensions import db
from gate.models import (
    JournalRecord,
    Post,
    PostOrder,
    Resident,
    Shift,
    Site,
    Unit,
    Vehicle,
)
from gate.models.types import utcnow
from gate.services import shiftbook, sites, topology, transaction
from gate.services.users import add_user

DEMO_SITE = "demo"
# Logins the README and tests name. They only work in the demo site.
LOGINS = {
    "guard": ("1001", "123456"),
    "guard2": ("1002", "654321"),
    "supervisor": ("supervisor", "supervisor-demo"),
    "desk": ("desk", "desk-demo"),
    "resident": ("13800000001", "resident-demo"),
    "admin": ("admin", "admin-demo"),
}
# The demo's units, as listed in gate/data/demo-site.toml (a unit test keeps the two equal).
UNITS = ["1-1-101", "1-1-102", "1-1-201", "1-2-301", "2-1-101", "2-1-502", "3-2-1801"]


def is_loaded() -> bool:
    """True when the demo site exists already."""
    return db.session.scalars(select(Site).where(Site.code == DEMO_SITE)).first() is not None


def load() -> bool:
    """Create the demo estate with a day of shift-book activity; False if it was there."""
    if is_loaded():
        return False
    with transaction():
        site = sites.create_site(DEMO_SITE, "演示小区", is_demo=True)
        post = _topology(site)
        users = _people(site)
        _orders(site, post, users["supervisor"])
        _history(site, post, users)
    return True


def _topology(site: Site) -> Post:
    """Posts, gates, lanes, devices, buildings and units from gate/data/demo-site.toml."""
    topo = topology.demo_topology()
    if topo.code != site.code:
        raise RuntimeError(f"{topo.source} describes site {topo.code!r}, not {site.code!r}")
    topology.apply_topology(topo)
    return db.session.scalars(select(Post).where(Post.site_id == site.id,
                                                 Post.code == topo.posts[0].code)).one()


def _people(site: Site) -> dict:
    users = {
        "guard": add_user(site, role="guard", username="guard1001", display_name="张保安",
                          staff_no="1001", pin="123456"),
        "guard2": add_user(site, role="guard", username="guard1002", display_name="李保安",
                           staff_no="1002", pin="654321"),
        "supervisor": add_user(site, role="supervisor", username="supervisor",
                               display_name="王队长", password="supervisor-demo"),
        "desk": add_user(site, role="service_desk", username="desk", display_name="客服小陈",
                         password="desk-demo"),
        "admin": add_user(site, role="admin", username="admin", display_name="管理员",
                          password="admin-demo"),
        "resident": add_user(site, role="resident", username="r13800000001",
                             display_name="陈先生", password="resident-demo", phone="13800000001"),
    }
    unit = db.session.scalars(select(Unit).where(Unit.site_id == site.id,
                                                 Unit.code == "1-1-101")).one()
    resident = Resident(unit_id=unit.id, user_id=users["resident"].id, name="陈先生",
                        phone="13800000001")
    db.session.add(resident)
    db.session.flush()
    db.session.add(Vehicle(site_id=site.id, resident_id=resident.id,
                           plate=normalize_plate("粤B12345")))
    db.session.flush()
    return users


def _orders(site: Site, post: Post, supervisor) -> None:
    db.session.add_all([
        PostOrder(site_id=site.id, post_id=None, kind="standing", category="security",
                  title="来访登记",
                  body="所有来访人员须出示证件，并联系业主确认后方可进入。",
                  created_by_id=supervisor.id),
        PostOrder(site_id=site.id, post_id=post.id, kind="pass_down", category="safety",
                  title="消防通道施工",
                  body="3栋消防通道施工至明晚，禁止车辆停放；发现违停请按话术劝离。",
                  created_by_id=supervisor.id, expires_at=utcnow() + timedelta(days=2)),
    ])
    db.session.flush()


def _history(site: Site, post: Post, users: dict) -> None:
    """Yesterday's day shift by guard 1002, handed over to 1001 (who then went off duty)."""
    day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = day + timedelta(hours=0)  # 08:00 Beijing time is 00:00 UTC
    g2 = users["guard2"]
    shift = Shift(post_id=post.id, guard_id=g2.id, started_at=start)
    db.session.add(shift)
    db.session.flush()

    def log(kind: str, data: dict, at: datetime, **kw) -> int:
        return shiftbook.append(kind, data, actor_id=kw.pop("actor", g2.id), post_id=post.id,
                                shift_id=shift.id, at=shiftbook.rfc3339(at), **kw).seq

    shift.start_seq = log("shift.start", {"orders_acknowledged": []}, start)
    unit = db.session.scalars(select(Unit).where(Unit.code == "1-1-101",
                                                 Unit.site_id == site.id)).one()
    entries = [
        (1.5, "patrol", {"area": "地下车库B1", "findings": "一切正常"}, None),
        (2.2, "phone_call", {"who": "1-1-101 陈先生", "what": "快递暂放岗亭",
                             "when": "10:10", "how": "已登记，业主自取"}, None),
        (3.0, "inspection", {"unit": "1-1-101", "purpose": "漏水检查",
                             "outcome": "无异常"}, unit.id),
        (5.5, "complaint", {"topic": "噪音", "summary": "2栋夜间装修噪音",
                            "forwarded": "yes"}, None),
        (7.0, "note", {"text": "出口道闸保养完成"}, None),
    ]
    for hours, kind, fields, unit_id in entries:
        at = start + timedelta(hours=hours)
        rec = JournalRecord(site_id=site.id, shift_id=shift.id, author_id=g2.id, kind=kind,
                            unit_id=unit_id, fields=fields, created_at=at)
        db.session.add(rec)
        db.session.flush()
        rec.seq = log(f"journal.{kind}", {"record_id": rec.id, "digest": record_digest(fields),
                                          "unit_id": unit_id, "follow_up_id": None}, at)
    end = start + timedelta(hours=8)
    equipment = {"radio": {"count": 2, "ok": True}, "keys": {"count": 1, "ok": True},
                 "logbook": {"count": 1, "ok": True}, "torch": {"count": 1, "ok": True},
                 "umbrella": {"count": 2, "ok": True}}
    shift.ended_at, shift.relieved_by_id, shift.equipment = end, users["guard"].id, equipment
    shift.end_seq = log("shift.handover", {"to_user_id": users["guard"].id, "open_items": [],
                                           "equipment": equipment,
                                           "notes_digest": record_digest({"notes": ""})}, end)
    shiftbook.checkpoint("shift_end", site=site.code)
