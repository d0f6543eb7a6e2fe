"""The bridge's timed chores: retention, overdue promises and its own status line.

Each runs in its own app context and never raises: a database outage is logged and the chore
is tried again on a later tick, so the bridge keeps deciding plates (docs/RELIABILITY.md).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask

from gate.extensions import db
from gate.models import BridgeStatus
from gate.models.types import utcnow

if TYPE_CHECKING:
    from device_adapters.bridge import Bridge

log = logging.getLogger(__name__)


def housekeeping(app: Flask) -> None:
    """Retention and the automatic check-out of stale visits (SPEC §5: also on a schedule)."""
    from gate.services import retention

    with app.app_context():
        try:
            counts = retention.purge()
            if any(counts.values()):
                log.info("housekeeping: %s", counts)
        except Exception:  # a failed purge is retried next time; the bridge keeps running
            log.warning("housekeeping failed", exc_info=True)
        finally:
            db.session.remove()


def check_deadlines(bridge: Bridge) -> None:
    """Announce newly overdue promises (时效制) on the alerts topic, once each."""
    from gate.services import deadlines
    from gate.services.sites import current_site

    def announce(item) -> bool:
        bridge.alert(f"overdue_{item.kind}", deadlines.alert_text(item), None)
        return True

    with bridge.app.app_context():
        try:
            site = current_site()
            if site is not None:
                deadlines.announce(site, announce)
            bridge.deadline_checks += 1
        except Exception:  # a database outage: tried again on the next tick
            log.warning("deadline check failed", exc_info=True)
        finally:
            db.session.remove()


def write_status(bridge: Bridge, *, connected: bool) -> None:
    """Write the bridge's status line (connected, message counts) for the console."""
    from gate.services import transaction

    with bridge.app.app_context():
        try:
            with transaction():
                row = (db.session.get(BridgeStatus, bridge.name)
                       or BridgeStatus(name=bridge.name, site=bridge.site))
                row.connected, row.updated_at = connected, utcnow()
                row.messages, row.dropped = bridge.link.messages, dict(bridge.link.dropped)
                db.session.add(row)
        except Exception:  # the status line must never take the bridge down (DB outage)
            log.warning("could not write bridge status", exc_info=True)
        finally:
            db.session.remove()
