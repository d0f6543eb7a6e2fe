"""Every kiosk string switches language: no Chinese typed straight into kiosk templates or scripts.

Text goes through Flask-Babel (`_()` in templates and Python, data attributes for scripts), so
switching to English changes it; Chinese written directly into the HTML or JS would stay Chinese.
The only Chinese allowed outside Jinja expressions are plate characters (provinces and suffixes
are part of the plate itself, in both languages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIOSK_FILES = sorted([*(ROOT / "kiosk_ui/templates/kiosk").glob("*.html"),
                      ROOT / "kiosk_ui/templates/base.html", *(ROOT / "kiosk_ui/static").glob("*.js")])
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
PLATE_CHARACTERS = set("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领港澳学警挂")


def literal_chinese(path: Path) -> list[str]:
    """Lines of a template or script with Chinese outside Jinja and comments, plate characters aside."""
    text = JINJA.sub("", path.read_text(encoding="utf-8"))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("//"):
            continue
        if any(ch not in PLATE_CHARACTERS for ch in CJK.findall(line)):
            found.append(f"{path.name}:{number}: {line.strip()[:80]}")
    return found


def test_the_check_finds_typed_chinese(tmp_path):
    """Protects the check itself: a typed Chinese label is found, a plate placeholder is not."""
    page = tmp_path / "page.html"
    html = '<button>返回</button>\n<input placeholder="粤B12345">\n{{ _("Back") }}\n'
    page.write_text(html, encoding="utf-8")
    assert literal_chinese(page) == ["page.html:1: <button>返回</button>"]


@pytest.mark.parametrize("path", KIOSK_FILES, ids=lambda p: p.name)
def test_no_chinese_typed_into_kiosk_files(path: Path):
    """Protects "switching to English translates every kiosk string" for this file."""
    assert literal_chinese(path) == []
