"""Live events for the kiosk and console (server-sent events): prompts, approvals and alerts without reload."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("kiosk_events", __name__, url_prefix="/events")
