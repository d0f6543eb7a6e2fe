"""Post orders (岗位须知) in the supervisor console (SPEC §2.5–2.6): issue, change and retire as
shift-book entries, a changed wording is read again by every guard, the acknowledgement history,
one clear refusal per bad input, and neither guards nor other estates get in."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from gate.domain.chain import record_digest
from gate.extensions import db
from gate.models import Post, PostOrder, PostOrderAck, ShiftBookEntry, User
from gate.models.types import utcnow
from gate.services import ActionError, post_orders, shiftbook, shifts, sites, transaction

CONSOLE = "/console/orders/"
SUPERVISOR = ("supervisor", "supervisor-demo")
TITLE = "东门临时封闭"
BODY = "东门车行道今晚22:00起封闭维修，车辆请引导至北门。\n如有疑问请联系队长。"


def _user(username: str) -> User:
    return db.session.scalars(select(User).where(User.username == username)).one()


def _post() -> Post:
    return db.session.scalars(select(Post).where(Post.code == "east")).one()


def _boss() -> User:
    return _user("supervisor")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _entries(kind: str) -> list[dict]:
    rows = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == kind)
                              .order_by(ShiftBookEntry.seq)).all()
    return [json.loads(r.data) | {"_actor": r.actor_id, "_post": r.post_id} for r in rows]


def _issue(kind: str = "pass_down", post_id: int | None = None, *, days: float = 2) -> PostOrder:
    return post_orders.create(_boss(), kind, "security", TITLE, BODY, post_id,
                              utcnow() + timedelta(days=days) if kind == "pass_down" else None)


def _other_site() -> tuple[int, int]:
    """Another estate with a post and an order: (post id, order id)."""
    with transaction():
        site = sites.create_site("other", "别的小区")
        post = Post(site_id=site.id, code="west", name="西门岗亭")
        db.session.add(post)
        db.session.flush()
        order = PostOrder(site_id=site.id, post_id=post.id, kind="standing", category="security",
                          title="别处的须知", body="不属于本小区")
        db.session.add(order)
    return post.id, order.id


def test_each_action_is_an_entry_with_ids_and_digest(ctx):
    """Protects the audit trail: issue, change and retire each write one entry with the order id,
    revision, post, kind and a digest of the wording — never the wording itself."""
    boss, post = _boss(), _post()
    order = _issue(post_id=post.id)
    post_orders.change(boss, order.id, "pass_down", "security", TITLE, BODY + "（已更新）", post.id,
                       order.expires_at)
    post_orders.retire(boss, order.id)
    [created], [changed], [retired] = (_entries(f"post_order.{k}") for k in ("created", "changed",
                                                                             "retired"))
    assert (created["order_id"], created["revision"], created["post_id"], created["kind"]) == \
        (order.id, 1, post.id, "pass_down")
    assert created["digest"] == record_digest({"title": TITLE, "body": BODY})
    assert changed["revision"] == 2 and changed["changed"] == ["body"]
    assert changed["digest"] == record_digest({"title": TITLE, "body": BODY + "（已更新）"})
    assert retired["revision"] == 2 and retired["order_id"] == order.id
    assert {e["_actor"] for e in (created, changed, retired)} == {boss.id}
    assert all(TITLE not in json.dumps(e, ensure_ascii=False) for e in (created, changed, retired))
    assert shiftbook.verify().ok


@pytest.mark.parametrize("action", ["create", "change", "retire"])
def test_failed_entry_rolls_the_action_back(ctx, monkeypatch, action):
    """Protects 'nothing half-written': each action and its entry are one transaction."""
    order = _issue()
    before = (_count(PostOrder), order.revision, order.body, order.expires_at)

    def broken_append(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(shiftbook, "append", broken_append)
    with pytest.raises(RuntimeError):
        if action == "create":
            _issue()
        elif action == "change":
            post_orders.change(_boss(), order.id, order.kind, order.category, order.title, "新的内容",
                               None, order.expires_at)
        else:
            post_orders.retire(_boss(), order.id)
    db.session.expire_all()
    order = db.session.get(PostOrder, order.id)
    assert (_count(PostOrder), order.revision, order.body, order.expires_at) == before


def test_new_wording_is_unread_again(ctx):
    """Protects re-acknowledgement: a guard who read revision 1 must read a changed text again;
    a change of category only (same wording) is not asked again; a retired order is not asked."""
    boss, post = _boss(), _post()
    guard = db.session.scalars(select(User).where(User.staff_no == "1001")).one()
    order = _issue(post_id=None)
    shifts.start_shift(guard, post, {o.id for o in shifts.unread_orders(guard, post)})
    assert shifts.unread_orders(guard, post) == []
    post_orders.change(boss, order.id, "pass_down", "safety", TITLE, BODY, None, order.expires_at)
    assert order.revision == 1 and shifts.unread_orders(guard, post) == []
    post_orders.change(boss, order.id, "pass_down", "safety", TITLE + "（修订）", BODY, None,
                       order.expires_at)
    assert order.revision == 2 and order.updated_by_id == boss.id and order.updated_at is not None
    assert [(o.id, o.revision) for o in shifts.unread_orders(guard, post)] == [(order.id, 2)]
    post_orders.retire(boss, order.id)
    assert shifts.unread_orders(guard, post) == []


def test_ack_history_lists_every_guard(ctx):
    """Protects the supervisor's view of who read what: each active guard with the revision they
    last acknowledged and when, whether it is the current one, and the 'N of M' count."""
    boss, post = _boss(), _post()
    g1 = db.session.scalars(select(User).where(User.staff_no == "1001")).one()
    g2 = db.session.scalars(select(User).where(User.staff_no == "1002")).one()
    order = _issue(post_id=post.id)
    shifts.start_shift(g1, post, {o.id for o in shifts.unread_orders(g1, post)})
    post_orders.change(boss, order.id, "pass_down", "security", TITLE, "改过的内容", post.id,
                       order.expires_at)
    with transaction():
        db.session.add(PostOrderAck(order_id=order.id, user_id=g2.id, revision=2))
    rows = {r.guard.staff_no: r for r in post_orders.ack_history(order)}
    assert set(rows) == {"1001", "1002"}
    assert (rows["1001"].revision, rows["1001"].current) == (1, False)
    assert rows["1001"].acked_at is not None
    assert (rows["1002"].revision, rows["1002"].current) == (2, True)
    counts, guards = post_orders.ack_counts(boss.site_id, [order])
    assert counts == {order.id: 1} and guards == 2
    with transaction():
        g2.active = False  # a guard who left is not counted
    assert [r.guard.staff_no for r in post_orders.ack_history(order)] == ["1001"]
    assert post_orders.ack_counts(boss.site_id, [order]) == ({order.id: 0}, 1)


def _bad(name: str):
    """(kind, category, title, body, post_id, expires_at) with one thing wrong, and its code."""
    now = utcnow()
    good = {"kind": "pass_down", "category": "security", "title": TITLE, "body": BODY,
            "post_id": None, "expires_at": now + timedelta(days=1)}
    cases = {
        "title_required": {"title": "   "},
        "bad_title": {"title": "长" * 121},
        "body_required": {"body": "\n \n"},
        "bad_body": {"body": "长" * 4001},
        "bad_kind": {"kind": "forever"},
        "bad_category": {"category": "fun"},
        "unknown_post": {"post_id": 999999},
        "expiry_required": {"expires_at": None},
        "expiry_past": {"expires_at": now - timedelta(minutes=1)},
        "expiry_too_far": {"expires_at": now + timedelta(days=367)},
    }
    return good | cases[name]


@pytest.mark.parametrize("code", ["title_required", "bad_title", "body_required", "bad_body",
                                  "bad_kind", "bad_category", "unknown_post", "expiry_required",
                                  "expiry_past", "expiry_too_far"])
def test_bad_input_is_refused_with_one_reason(ctx, code):
    """Protects the orders guards must obey from bad input: each problem has its own refusal, on
    issue and on change, and nothing is written."""
    order = _issue()
    head, orders = shiftbook.verify().count, _count(PostOrder)
    fields = _bad(code)
    with pytest.raises(ActionError) as err:
        post_orders.create(_boss(), **fields)
    assert err.value.code == code
    with ctx.test_request_context("/?lang=en"):
        assert err.value.message and err.value.message != code
    with pytest.raises(ActionError) as err:
        post_orders.change(_boss(), order.id, **fields)
    assert err.value.code == code
    db.session.expire_all()
    assert (shiftbook.verify().count, _count(PostOrder)) == (head, orders)
    assert db.session.get(PostOrder, order.id).revision == 1


def test_standing_order_needs_no_expiry_and_titles_are_capped_at_120(ctx):
    """Protects the limits' edges: a standing order without expiry and a 120-character title and
    4000-character text are accepted (the refusals above start one past them)."""
    order = post_orders.create(_boss(), "standing", "safety", "题" * 120, "文" * 4000, None, None)
    assert order.expires_at is None and post_orders.is_active(order)


def test_other_estate_post_order_and_retired_order_are_refused(ctx):
    """Protects estates from each other and history from edits: another site's post is unknown,
    another site's order is not found, an ended order cannot be changed or retired again."""
    other_post, other_order = _other_site()
    boss = _boss()
    with pytest.raises(ActionError) as err:
        post_orders.create(boss, **(_bad("title_required") | {"title": TITLE, "post_id": other_post}))
    assert err.value.code == "unknown_post"
    for call in (lambda: post_orders.retire(boss, other_order),
                 lambda: post_orders.change(boss, other_order, "standing", "security", "x", "y", None, None),
                 lambda: post_orders.get(boss.site_id, other_order)):
        with pytest.raises(ActionError) as err:
            call()
        assert err.value.code == "not_found"
    order = _issue()
    post_orders.retire(boss, order.id)
    for call in (lambda: post_orders.retire(boss, order.id),
                 lambda: post_orders.change(boss, order.id, "pass_down", "security", TITLE, "新",
                                            None, utcnow() + timedelta(days=1))):
        with pytest.raises(ActionError) as err:
            call()
        assert err.value.code == "order_ended"
    active, ended = post_orders.list_orders(boss.site_id)
    assert order.id in [o.id for o in ended] and order.id not in [o.id for o in active]
    assert other_order not in [o.id for o in active + ended]


def test_unchanged_form_is_refused(ctx):
    """Protects the shift book from empty entries: saving an untouched form (the expiry shown to
    the minute) changes nothing and writes nothing."""
    order = _issue()
    shown = post_orders.local_expiry(
        order.expires_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M"))
    with pytest.raises(ActionError) as err:
        post_orders.change(_boss(), order.id, order.kind, order.category, order.title, order.body,
                           order.post_id, shown)
    assert err.value.code == "unchanged" and _entries("post_order.changed") == []


@pytest.fixture
def supervisor(client, kiosk):
    """The demo supervisor signed in, pages in English (the source strings)."""
    assert kiosk.login_staff(*SUPERVISOR).status_code == 302
    client.get(f"{CONSOLE}?lang=en")
    return client


def _local_input(app, days: float) -> str:
    with app.app_context():
        zone = ZoneInfo(app.config["GATE_TIMEZONE"])
    return (utcnow() + timedelta(days=days)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def test_console_issues_changes_and_retires(app, supervisor):
    """Protects the console forms: the typed local expiry is stored in UTC, the order page shows
    the ack table and its history, a change is a new revision, retire ends it; list filters work."""
    with app.app_context():
        post_id = _post().id
    typed = _local_input(app, 2)
    response = supervisor.post(CONSOLE, data={"kind": "pass_down", "category": "safety", "title": TITLE,
                                              "body": BODY, "post": str(post_id), "expires": typed})
    assert response.status_code == 302
    order_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with app.app_context():
        order = db.session.get(PostOrder, order_id)
        zone = ZoneInfo(app.config["GATE_TIMEZONE"])
        assert order.expires_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == typed
        assert order.expires_at.utcoffset() == timedelta(0)
    page = supervisor.get(f"{CONSOLE}{order_id}").get_data(True)
    assert TITLE in page and 'data-testid="ack-1001"' in page and 'data-testid="ack-1002"' in page
    assert 'data-testid="ack-count">0 of 2 guards<' in page
    assert "Order issued" in page  # the history row, labelled
    response = supervisor.post(f"{CONSOLE}{order_id}", data={
        "kind": "pass_down", "category": "safety", "title": TITLE, "body": "改：" + BODY,
        "post": str(post_id), "expires": typed})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(PostOrder, order_id).revision == 2
    assert supervisor.post(f"{CONSOLE}{order_id}/retire").status_code == 302
    with app.app_context():
        assert not post_orders.is_active(db.session.get(PostOrder, order_id))
        assert len(_entries("post_order.retired")) == 1
    ended = supervisor.get(f"{CONSOLE}?state=expired").get_data(True)
    active = supervisor.get(f"{CONSOLE}?state=active").get_data(True)
    assert f'data-testid="order-{order_id}"' in ended and f'data-testid="order-{order_id}"' not in active
    page = supervisor.get(f"{CONSOLE}{order_id}").get_data(True)
    assert 'data-testid="edit-order"' not in page and 'data-testid="retire"' not in page


def test_refused_form_keeps_what_was_typed(app, supervisor):
    """Protects the supervisor's long text: a refused form (pass-down without expiry) shows the
    reason and is shown again with the title and text as typed; nothing is issued."""
    with app.app_context():
        before = _count(PostOrder)
    response = supervisor.post(CONSOLE, data={"kind": "pass_down", "category": "security",
                                              "title": TITLE, "body": BODY, "post": "", "expires": ""})
    page = response.get_data(True)
    assert response.status_code == 422 and "flash error" in page
    assert "temporary" in page and TITLE in page and "如有疑问请联系队长。" in page
    for post, expires in (("abc", _local_input(app, 1)), ("", "tomorrow")):
        response = supervisor.post(CONSOLE, data={"kind": "standing", "category": "security",
                                                  "title": TITLE, "body": BODY, "post": post,
                                                  "expires": expires})
        assert response.status_code == 422 and "flash error" in response.get_data(True)
    with app.app_context():
        assert _count(PostOrder) == before


@pytest.mark.parametrize("method, suffix", [("get", ""), ("post", ""), ("get", "{id}"),
                                            ("post", "{id}"), ("post", "{id}/retire")])
def test_guard_is_turned_away(app, client, kiosk, method, suffix):
    """Protects supervisor-only orders: a guard gets 403 at every URL and changes nothing."""
    kiosk.login()
    with app.app_context():
        order_id = db.session.scalars(select(PostOrder.id)).first()
        before = (_count(PostOrder), shiftbook.verify().count)
    response = getattr(client, method)(CONSOLE + suffix.format(id=order_id),
                                       data={"title": "x", "body": "y", "kind": "standing",
                                             "category": "security"} if method == "post" else None)
    assert response.status_code == 403
    with app.app_context():
        assert (_count(PostOrder), shiftbook.verify().count) == before


def test_other_estates_order_is_404(app, supervisor):
    """Protects estates from each other: another site's order is not found on every URL."""
    with app.app_context():
        _post_id, other = _other_site()
        before = shiftbook.verify().count
    assert supervisor.get(f"{CONSOLE}{other}").status_code == 404
    assert supervisor.post(f"{CONSOLE}{other}", data={"title": "x", "body": "y"}).status_code == 404
    assert supervisor.post(f"{CONSOLE}{other}/retire").status_code == 404
    assert supervisor.get(f"{CONSOLE}999999").status_code == 404
    with app.app_context():
        assert shiftbook.verify().count == before
        assert post_orders.is_active(db.session.get(PostOrder, other))
