"""Script library: each kiosk script (话术) per situation in zh_CN and English, editable per site."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_scripts", __name__, url_prefix="/console/scripts")
