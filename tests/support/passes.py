"""Making visitor and worker passes for tests, and the texts a gate may be shown.

Call inside an app context. Passes are made through the services (the demo resident of 1-1-101
invites; the demo service desk issues worker passes); time-dependent cases then move a pass's
window in the database, as creation refuses windows in the past.
"""

from __future__ import annotations

import base64
import struct
from datetime import datetime, timedelta

from sqlalchemy import select

from gate.domain import passes as tokens
from gate.extensions import db
from gate.models import Resident, Site, Unit, User, VisitorPass
from gate.models.types import utcnow
from gate.services import passes

HOST_PHONE = "13800000001"
WORKER_ID = "11010519491231002X"


def host() -> tuple[Resident, User]:
    """The demo resident of 1-1-101 and their portal account."""
    resident = db.session.scalars(select(Resident).where(Resident.phone == HOST_PHONE)).one()
    return resident, db.session.get(User, resident.user_id)


def user(login: str) -> User:
    """A demo account by username or staff number."""
    return db.session.scalars(select(User).where((User.username == login) | (User.staff_no == login))).one()


def site() -> Site:
    """The demo site."""
    return db.session.scalars(select(Site).where(Site.code == "demo")).one()


def visitor_pass(name: str = "王访客", **options) -> VisitorPass:
    """A pass the demo resident creates (default: single use, today)."""
    resident, account = host()
    return passes.create(resident, account, name=name, **options)


def worker_pass(name: str = "刘师傅", daily_from: str = "08:00", daily_until: str = "18:00") -> VisitorPass:
    """A renovation worker's pass for 1-1-101, issued by the demo service desk for today."""
    unit = db.session.scalars(select(Unit).where(Unit.code == "1-1-101")).one()
    return passes.issue_worker_pass(user("desk"), unit, name=name, id_number=WORKER_ID,
                                    employer="好家装修公司", starts_on=None, ends_on=None,
                                    daily_from=daily_from, daily_until=daily_until)


def move_window(visitor_pass: VisitorPass, starts: datetime, ends: datetime) -> VisitorPass:
    """Set a pass's window directly (the past is allowed here, unlike in passes.create)."""
    visitor_pass.valid_from, visitor_pass.valid_until = starts, ends
    db.session.commit()
    return visitor_pass


def expire(visitor_pass: VisitorPass) -> VisitorPass:
    """A pass whose window ended a minute ago."""
    now = utcnow()
    return move_window(visitor_pass, now - timedelta(hours=3), now - timedelta(minutes=1))


def token(visitor_pass: VisitorPass) -> str:
    """The token the pass's QR carries."""
    return passes.token_for(visitor_pass)


def typed(code: str) -> str:
    """The short code as a guard might type it: lower case, a dash, look-alike digits."""
    folded = code.replace("O", "0").replace("I", "1").replace("B", "8").lower()
    return f"{folded[:4]}-{folded[4:]}"


def forged_with_other_key(visitor_pass: VisitorPass) -> str:
    """A well-formed token for a real pass, signed with a key that is not the gate's."""
    return tokens.issue(b"other-key" * 4, "demo", bytes.fromhex(visitor_pass.pid),
                        visitor_pass.valid_from, visitor_pass.valid_until)


def flipped(text: str, index: int = 20) -> str:
    """The token with one base32 character changed to another base32 character."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def longer_window(text: str, days: int = 30) -> str:
    """The token's signed body re-packed with a later end, keeping the old MAC."""
    raw = base64.b32decode(text[len(tokens.PREFIX):])
    body_format = struct.Struct(">4s12sII")
    tag, pid, start, end = body_format.unpack(raw[:body_format.size])
    body = body_format.pack(tag, pid, start, end + days * 24 * 60)
    return tokens.PREFIX + base64.b32encode(body + raw[body_format.size:]).decode("ascii")


def other_site(visitor_pass: VisitorPass) -> str:
    """A genuine token (the gate's key) issued for another estate."""
    return tokens.issue(passes.pass_key(), "elsewhere", bytes.fromhex(visitor_pass.pid),
                        visitor_pass.valid_from, visitor_pass.valid_until)


def re_encoded(text: str) -> str:
    """The token wrapped in base64, as a misconfigured scanner might send it."""
    return base64.b64encode(text.encode()).decode("ascii")
