"""Chinese by default, English on request, and a complete zh_CN catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "kiosk_ui/translations/zh_CN/LC_MESSAGES/messages.po"


@pytest.fixture(params=["sqlite"])
def backend(request):
    """Language does not depend on the database: SQLite is enough here."""
    return request.param


def test_kiosk_speaks_chinese_by_default(client):
    """Protects the default locale: a guard's screen is in Chinese, with lang=zh-CN."""
    page = client.get("/kiosk/login").get_data(True)
    assert '<html lang="zh-CN">' in page
    assert "保安员登录" in page


def test_english_on_request(client):
    """Protects the language switch: ?lang=en shows English and sticks for the session."""
    page = client.get("/kiosk/login?lang=en").get_data(True)
    assert '<html lang="en">' in page and "Guard sign-in" in page
    assert "Guard sign-in" in client.get("/kiosk/login").get_data(True)
    assert "保安员登录" in client.get("/kiosk/login?lang=zh_CN").get_data(True)


def test_catalogue_is_complete(tmp_path):
    """Protects 'every string through Babel': each extracted message has a Chinese translation."""
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
                    "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    with PO.open("rb") as fh:
        catalogue = {m.id: m for m in read_po(fh) if m.id}
    missing = sorted(str(i) for i in wanted if i not in catalogue or not catalogue[i].string)
    assert not missing, f"untranslated (run `make babel` and translate): {missing[:10]}"
    fuzzy = sorted(str(i) for i, m in catalogue.items() if m.fuzzy)
    assert not fuzzy, f"fuzzy translations: {fuzzy[:10]}"
