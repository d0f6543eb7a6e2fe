"""Making release slips (放行条) for tests, and the texts a guard may scan or type.

Call inside an app context. Slips are made through the services: the demo owner of 1-1-101
(13800000001) applies on the portal, the demo service desk ("desk") approves. Time-dependent
cases then move a slip's date in the database, as applying refuses dates in the past.
"""

from __future__ import annotations

from datetime import date, timedelta

from gate.domain import passes as tokens
from gate.extensions import db
from gate.models import ReleaseSlip
from gate.services import slips
from gate.services.passes import today
from tests.support.passes import host, user

LINES = [("沙发", 1), ("纸箱", 12)]
CARRIER_ID = "11010519491231002X"  # a valid resident ID number (check character X)


def applied(on_date: date | None = None, lines=None) -> ReleaseSlip:
    """A pending application by the demo owner of 1-1-101 (default: today, two lines)."""
    resident, account = host()
    return slips.apply(account, resident.unit, resident, via="portal", lines=lines or LINES,
                       on_date=on_date, carrier_name="李师傅", carrier_phone="13900001111")


def approved(on_date: date | None = None, lines=None) -> ReleaseSlip:
    """An application approved by the demo service desk: it has a serial and a QR token."""
    return slips.approve(user("desk"), applied(on_date, lines))


def tomorrow() -> date:
    """The site's tomorrow."""
    return today() + timedelta(days=1)


def set_date(slip: ReleaseSlip, on_date: date) -> ReleaseSlip:
    """Move a slip's date directly (the past is allowed here, unlike in slips.apply)."""
    slip.on_date = on_date
    db.session.commit()
    return slip


def token(slip: ReleaseSlip) -> str:
    """The text the slip's QR carries."""
    return slips.token_for(slip)


def signed_for(slip: ReleaseSlip, key: bytes | None = None, site: str = "demo") -> str:
    """A slip token for this slip's id, signed with `key` (default: the real slip key) for `site`."""
    start, end = slips.valid_window(slip)
    return tokens.issue(key or slips.slip_key(), site, bytes.fromhex(slip.pid), start, end, kind="slip")


def with_pid(slip: ReleaseSlip) -> ReleaseSlip:
    """Give a slip that was never approved a QR id (as if its approval were undone)."""
    slip.pid = tokens.pid_text(tokens.new_pid())
    db.session.commit()
    return slip


def flipped(text: str, index: int = 20) -> str:
    """The token with one base32 character changed to another base32 character."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def typed_serial(serial: str) -> str:
    """The serial as a guard might type it: lower case, no dashes."""
    return serial.replace("-", "").lower()
