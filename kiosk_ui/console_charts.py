"""Charts (traffic per hour, violations per type, wait time) and the PDF daily report per post."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_charts", __name__, url_prefix="/console/charts")
