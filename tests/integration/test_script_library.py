"""The script library (话术): a supervisor words a kiosk script the estate's own way per language or
reverts it; the kiosk banner shows the site's wording, each change is in the shift book."""

from __future__ import annotations

import hashlib
import html
import json

import pytest
from sqlalchemy import event, select

from gate.extensions import db
from gate.models import ScriptText, ShiftBookEntry, User
from gate.services import ActionError, script_library, shiftbook, sites, transaction
from kiosk_ui.scripts import SCRIPTS, script
from tests.support.kiosk import KioskActions

CONSOLE = "/console/scripts/"
START = "/kiosk/shift/start"
SUPERVISOR = ("supervisor", "supervisor-demo")
ORDERS_ZH = "开始值班前，请阅读全部岗位须知。"  # the built-in zh_CN wording of "orders"
ORDERS_EN = "Read every post order before starting your shift."
GREETING_ZH = "先生/小姐，您好！请问有什么事需要我们帮助的？"
SITE_ZH = "接班前请逐条阅读岗位须知，有疑问请问领班。"


def _page(client, path: str) -> str:
    return html.unescape(client.get(path).get_data(True))


def _rows(app) -> list[tuple[int, str, str, str]]:
    with app.app_context():
        rows = db.session.execute(select(ScriptText.site_id, ScriptText.key, ScriptText.locale,
                                         ScriptText.text).order_by(ScriptText.id)).all()
        db.session.remove()
        return [tuple(r) for r in rows]


def _entries(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "script.changed")
                                  .order_by(ShiftBookEntry.seq)).all()
        out = [dict(json.loads(r.data), actor_id=r.actor_id) for r in rows]
        db.session.remove()
        return out


def _user_id(app, username: str) -> int:
    with app.app_context():
        uid = db.session.scalars(select(User.id).where(User.username == username)).one()
        db.session.remove()
        return uid


@pytest.fixture
def supervisor(app):
    """The demo supervisor signed in on their own client."""
    client = app.test_client()
    assert KioskActions(client).login_staff(*SUPERVISOR).status_code == 302
    return client


@pytest.fixture
def guard(app):
    """The demo guard signed in at the kiosk, on the start-shift page (the "orders" banner)."""
    client = app.test_client()
    assert KioskActions(client).login().status_code == 302
    return client


def _save(supervisor, text: str, key: str = "orders", locale: str = "zh_CN"):
    return supervisor.post(f"{CONSOLE}{key}/{locale}", data={"text": text})


def test_every_script_is_listed_once():
    """Protects the library's completeness: each kiosk script is in exactly one group, so a new
    script cannot be added without the supervisor being able to word it."""
    keys = [key for _code, _label, group in script_library.GROUPS for key in group]
    assert sorted(keys) == sorted(SCRIPTS)
    assert len(keys) == len(set(keys))


def test_site_wording_on_the_banner_in_its_language_only(app, supervisor, guard):
    """Protects the per-language override: the guard's next page shows the site's Chinese wording,
    while English keeps the built-in text; the console marks the overridden cell only."""
    assert ORDERS_ZH in _page(guard, START)
    assert _save(supervisor, f"  {SITE_ZH}  ").status_code == 302
    assert _rows(app) == [(_rows(app)[0][0], "orders", "zh_CN", SITE_ZH)]

    page = _page(guard, START)
    assert SITE_ZH in page and ORDERS_ZH not in page
    english = _page(guard, f"{START}?lang=en")
    assert ORDERS_EN in english and SITE_ZH not in english

    listing = _page(supervisor, CONSOLE)
    assert 'data-testid="site-orders-zh_CN"' in listing
    assert 'data-testid="site-orders-en"' not in listing
    assert SITE_ZH in listing and ORDERS_EN in listing


def test_revert_goes_back_to_the_built_in(app, supervisor, guard):
    """Protects revert: the revert button, empty text and the built-in text itself all drop the
    site's row, and the banner shows the built-in wording again."""
    for how in ("button", "empty", "same"):
        _save(supervisor, SITE_ZH)
        assert SITE_ZH in _page(guard, START)
        if how == "button":
            supervisor.post(f"{CONSOLE}orders/zh_CN/revert")
        else:
            _save(supervisor, "" if how == "empty" else ORDERS_ZH)
        assert _rows(app) == [], how
        page = _page(guard, START)
        assert ORDERS_ZH in page and SITE_ZH not in page, how
    assert 'data-testid="site-orders-zh_CN"' not in _page(supervisor, CONSOLE)


def test_each_change_is_in_the_shift_book(app, supervisor):
    """Protects the audit trail: one script.changed entry per change with key, locale, the digest
    of the wording now in effect and whether it reverted; never the text itself; a save that
    changes nothing writes nothing."""
    _save(supervisor, SITE_ZH)
    _save(supervisor, SITE_ZH)  # unchanged
    _save(supervisor, "Please read the orders.", locale="en")
    supervisor.post(f"{CONSOLE}orders/zh_CN/revert")
    supervisor.post(f"{CONSOLE}orders/zh_CN/revert")  # already the built-in
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    sup = _user_id(app, "supervisor")
    assert _entries(app) == [
        {"key": "orders", "locale": "zh_CN", "reverted": False, "sha256": digest(SITE_ZH), "actor_id": sup},
        {"key": "orders", "locale": "en", "reverted": False, "sha256": digest("Please read the orders."),
         "actor_id": sup},
        {"key": "orders", "locale": "zh_CN", "reverted": True, "sha256": digest(ORDERS_ZH), "actor_id": sup},
    ]


def test_change_and_entry_are_one_transaction(app, monkeypatch):
    """Protects atomicity: when the shift-book entry cannot be written, the wording is not saved."""
    def broken(*_args, **_kwargs):
        raise RuntimeError("shift book unavailable")

    monkeypatch.setattr(shiftbook, "append", broken)
    with app.test_request_context():
        boss = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        with pytest.raises(RuntimeError):
            script_library.save(boss, "orders", "zh_CN", SITE_ZH)
        db.session.remove()
    assert _rows(app) == []
    assert _entries(app) == []


@pytest.mark.parametrize(("key", "locale", "text", "code"), [
    ("no_such_script", "zh_CN", SITE_ZH, "unknown_script"),
    ("orders", "fr", SITE_ZH, "bad_locale"),
    ("orders", "zh_CN", "须" * 301, "too_long"),
    ("orders", "zh_CN", "请阅读\x00须知", "bad_text"),
    ("orders", "en", "Read\x1b[2Jthe orders", "bad_text"),
])
def test_bad_input_is_refused_with_nothing_written(app, key, locale, text, code):
    """Protects the library's input checks: unknown script or language, over 300 characters and
    control characters are refused, and neither a row nor an entry is written."""
    with app.test_request_context():
        boss = db.session.scalars(select(User).where(User.username == "supervisor")).one()
        with pytest.raises(ActionError) as err:
            script_library.save(boss, key, locale, text)
        assert err.value.code == code
        db.session.remove()
    assert _rows(app) == [] and _entries(app) == []


def test_bad_input_through_the_console(app, supervisor):
    """Protects the console's handling: unknown scripts and languages are 404, a refused text is
    flashed and nothing is written, 300 characters exactly are accepted."""
    assert supervisor.get(f"{CONSOLE}no_such_script/zh_CN").status_code == 404
    assert supervisor.get(f"{CONSOLE}orders/fr").status_code == 404
    assert supervisor.post(f"{CONSOLE}orders/fr", data={"text": SITE_ZH}).status_code == 404
    response = supervisor.post(f"{CONSOLE}orders/zh_CN", data={"text": "须" * 301},
                               follow_redirects=True)
    assert "最多300个字符" in response.get_data(True)
    assert _rows(app) == [] and _entries(app) == []
    _save(supervisor, "须" * 300)
    assert [r[3] for r in _rows(app)] == ["须" * 300]


def test_only_a_supervisor_may_word_scripts(app):
    """Protects the role check in the service itself (not only the route): a guard is refused."""
    with app.test_request_context():
        guard = db.session.scalars(select(User).where(User.staff_no == "1001")).one()
        with pytest.raises(ActionError) as err:
            script_library.save(guard, "orders", "zh_CN", SITE_ZH)
        assert err.value.code == "not_allowed"
        db.session.remove()
    assert _rows(app) == []


def test_guards_cannot_reach_the_pages(app, guard):
    """Protects the console pages: a guard gets 403 on the list, the edit page, save and revert,
    and nothing is written."""
    assert guard.get(CONSOLE).status_code == 403
    assert guard.get(f"{CONSOLE}orders/zh_CN").status_code == 403
    assert guard.post(f"{CONSOLE}orders/zh_CN", data={"text": SITE_ZH}).status_code == 403
    assert guard.post(f"{CONSOLE}orders/zh_CN/revert").status_code == 403
    assert _rows(app) == [] and _entries(app) == []


def test_another_sites_wording_does_not_leak(app, supervisor, guard):
    """Protects site separation: another estate's wording of the same script shows neither on this
    kiosk nor in this estate's console, and text_for answers per site."""
    with app.test_request_context():
        with transaction():
            other = sites.create_site("other-estate", "另一小区")
            db.session.add(ScriptText(site_id=other.id, key="orders", locale="zh_CN", text=SITE_ZH))
        other_id, own_id = other.id, sites.current_site().id
        assert script_library.text_for(other_id, "orders", "zh_CN") == SITE_ZH
        assert script_library.text_for(own_id, "orders", "zh_CN") is None
        db.session.remove()
    page = _page(guard, START)
    assert ORDERS_ZH in page and SITE_ZH not in page
    listing = _page(supervisor, CONSOLE)
    assert SITE_ZH not in listing and 'data-testid="site-orders-zh_CN"' not in listing


def test_one_query_per_request_for_all_banners(app, supervisor):
    """Protects the kiosk's page cost: however many scripts a page shows, the site's wordings are
    read once per request, and the built-in fills in for scripts without one."""
    _save(supervisor, SITE_ZH)
    statements: list[str] = []
    with app.test_request_context("/kiosk/?lang=zh_CN"):
        engine = db.engine

        def count(_conn, _cursor, statement, *_args):
            if "script_text" in statement:
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert [script("orders"), script("greeting"), script("orders")] == [
                SITE_ZH, GREETING_ZH, SITE_ZH]
        finally:
            event.remove(engine, "before_cursor_execute", count)
        db.session.remove()
    assert len(statements) == 1
