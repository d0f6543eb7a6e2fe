"""/metrics: the site's state for Prometheus, read from the database every web worker shares.

The web runs as several gunicorn workers, so nothing here is counted in process memory: each
scrape reads the database, and any worker gives the same answer. The bridge counts what it
does itself (device_adapters/metrics.py, on GATE_METRICS_BIND). Labels are ids of devices,
bridges and kinds only — never a plate, a name, a phone or an ID number.

Who may read it: a scraper on this machine (loopback, and not relayed by a proxy), or anyone
presenting `Authorization: Bearer <GATE_METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from gate.extensions import db
from gate.models import (
    Approval,
    BarrierCommandRecord,
    BridgeStatus,
    DeviceEvent,
    DeviceStatus,
    ShiftBookHead,
    Site,
    Visit,
)
from gate.models.types import utcnow
from gate.services.auth import public

bp = Blueprint("metrics", __name__)
# Barrier commands and device events are counted over this recent window (a gauge): the
# tables grow for years, and a window keeps each scrape's query small.
WINDOW = timedelta(hours=1)
VISIT_STATES = ("waiting_host", "waiting_supervisor", "admitted")
# Set by a reverse proxy: a request carrying one came from elsewhere, even if it reached us on loopback.
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def allowed() -> bool:
    """True for the bearer token, or for a direct request from this machine."""
    token = current_app.config.get("GATE_METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        local = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    return local and not any(h in request.headers for h in _PROXY_HEADERS)


def _gauge(name: str, doc: str, labels: list[str], rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for *values, number in rows:
        family.add_metric([str(v) for v in values], float(number))
    return family


class SiteCollector:
    """Reads the site's numbers at scrape time (a handful of small, indexed queries)."""

    def __init__(self, site_code: str) -> None:
        self.site_code = site_code

    def collect(self):
        """Yield one metric family per question."""
        code, now = self.site_code, utcnow()
        site_id = db.session.scalar(select(Site.id).where(Site.code == code))
        up = GaugeMetricFamily("gatehouse_site_configured", "1 when the site exists in the database.")
        up.add_metric([], 0 if site_id is None else 1)
        yield up
        statuses = db.session.execute(select(DeviceStatus.kind, DeviceStatus.device, DeviceStatus.online,
                                             DeviceStatus.last_message_at)
                                      .where(DeviceStatus.site == code)).all()
        yield _gauge("gatehouse_device_online", "1 when the device last said online, 0 offline "
                     "(devices that never said either are absent).", ["kind", "device"],
                     [(s.kind, s.device, 1 if s.online else 0) for s in statuses if s.online is not None])
        yield _gauge("gatehouse_device_last_message_age_seconds", "Seconds since the device's last message.",
                     ["kind", "device"], [(s.kind, s.device, (now - s.last_message_at).total_seconds())
                                          for s in statuses if s.last_message_at is not None])
        bridges = db.session.scalars(select(BridgeStatus).where(BridgeStatus.site == code)).all()
        yield _gauge("gatehouse_bridge_status_age_seconds", "Seconds since the bridge last wrote its "
                     "status (every 5 s while it runs).", ["bridge"],
                     [(b.name, (now - b.updated_at).total_seconds()) for b in bridges])
        yield _gauge("gatehouse_bridge_broker_connected", "1 when the bridge last said it was connected.",
                     ["bridge"], [(b.name, 1 if b.connected else 0) for b in bridges])
        messages = CounterMetricFamily("gatehouse_bridge_messages_received", "MQTT messages the bridge "
                                       "received since it started (as last written).", labels=["bridge"])
        for b in bridges:
            messages.add_metric([b.name], b.messages)
        yield messages
        since, cmd = now - WINDOW, BarrierCommandRecord
        commands = db.session.execute(select(cmd.device, cmd.source, cmd.outcome, func.count())
                                      .where(cmd.site == code, cmd.issued_at >= since)
                                      .group_by(cmd.device, cmd.source, cmd.outcome))
        yield _gauge("gatehouse_barrier_commands_last_hour", "Barrier commands issued in the last hour, "
                     "by device, source and outcome (pending: no outcome yet).",
                     ["device", "source", "outcome"],
                     [(device, source, outcome or "pending", n) for device, source, outcome, n in commands])
        yield _gauge("gatehouse_device_events_last_hour", "Device events recorded in the last hour, by "
                     "device and kind.", ["device", "kind"], db.session.execute(
                         select(DeviceEvent.device, DeviceEvent.kind, func.count())
                         .where(DeviceEvent.received_at >= since, DeviceEvent.site == code)
                         .group_by(DeviceEvent.device, DeviceEvent.kind)).all())
        head = db.session.scalar(select(ShiftBookHead.seq).where(ShiftBookHead.site == code))
        yield _gauge("gatehouse_shiftbook_entries", "Entries in the shift book (its head's seq).", [],
                     [(head or 0,)])
        if site_id is None:
            return
        visits = dict(db.session.execute(select(Visit.state, func.count()).where(
            Visit.site_id == site_id, Visit.state.in_(VISIT_STATES)).group_by(Visit.state)).all())
        yield _gauge("gatehouse_visits", "Visits by state: waiting for the host or a supervisor, or "
                     "admitted (on site).", ["state"], [(s, visits.get(s, 0)) for s in VISIT_STATES])
        open_approvals = (select(func.count()).select_from(Approval)
                          .where(Approval.site_id == site_id, Approval.decided_at.is_(None)))
        yield _gauge("gatehouse_approvals_pending", "Supervisor approvals not yet decided.", [],
                     [(db.session.scalar(open_approvals),)])
        yield _gauge("gatehouse_approvals_overdue", "Undecided supervisor approvals past their deadline.",
                     [], [(db.session.scalar(open_approvals.where(Approval.due_at < now)),)])


@bp.get("/metrics")
@public
def metrics() -> Response:
    """The site's gauges in Prometheus text format, for loopback or the bearer token only."""
    if not allowed():
        body = jsonify(error={"code": "metrics_forbidden",
                              "message": _("Metrics are served to this machine or with the metrics token.")})
        return body, 403
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(current_app.config["GATE_SITE"]))
    try:
        output = generate_latest(registry)
    finally:
        db.session.rollback()  # read-only: end the transaction the queries opened
    return Response(output, mimetype=None, content_type=CONTENT_TYPE_LATEST)
