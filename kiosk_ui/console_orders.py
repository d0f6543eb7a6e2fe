"""Post orders: standing and pass-down orders per post, revisions and who acknowledged them."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_orders", __name__, url_prefix="/console/orders")
