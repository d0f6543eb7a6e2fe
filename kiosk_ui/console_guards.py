"""Guard accounts: reset a PIN, disable and enable, see who is locked out."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_guards", __name__, url_prefix="/console/guards")
