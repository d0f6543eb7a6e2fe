"""Pending and overdue (时效制): approvals, incidents and promised call-backs with their deadlines."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_pending", __name__, url_prefix="/console/pending")
