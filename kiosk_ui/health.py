"""/healthz: the database, each bridge's broker connection and counters, each device's last word."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, text

from gate.extensions import db
from gate.models import BridgeStatus, Device, DeviceStatus, Site
from gate.models.types import utcnow
from gate.services.auth import public

bp = Blueprint("health", __name__)
STALE = timedelta(seconds=20)  # a bridge writes its status every 5 s


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@bp.get("/healthz")
@public
def healthz():
    """Machine-readable health for monitoring; 503 when the database cannot be reached."""
    site_code = current_app.config["GATE_SITE"]
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means the same to a monitor: the database is down
        db.session.rollback()
        return jsonify(status="down", database="unreachable"), 503
    now = utcnow()
    bridges = [{
        "name": b.name, "connected": b.connected and now - b.updated_at < STALE,
        "updated_at": _iso(b.updated_at), "messages": b.messages, "dropped": b.dropped or {},
    } for b in db.session.scalars(select(BridgeStatus).where(BridgeStatus.site == site_code))]
    statuses = {(s.kind, s.device): s for s in db.session.scalars(
        select(DeviceStatus).where(DeviceStatus.site == site_code))}
    devices = []
    for d in db.session.scalars(select(Device).join(Site).where(Site.code == site_code).order_by(Device.id)):
        s = statuses.get((d.kind, d.code))
        devices.append({"kind": d.kind, "id": d.code, "online": s.online if s else None,
                        "state": s.state if s else None,
                        "last_message_at": _iso(s.last_message_at) if s else None})
    degraded = (not any(b["connected"] for b in bridges)) or any(d["online"] is False for d in devices)
    return jsonify(status="degraded" if degraded else "ok", database="ok", site=site_code,
                   bridges=bridges, devices=devices)
