"""Webhooks: signed delivery of the shift book's entries, retry with backoff, pause and resume.

Every test runs against a real HTTP receiver (tests.support.webhook_receiver) on SQLite and
PostgreSQL; time is moved by passing `now` to deliver_due, never by sleeping.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from gate.domain.webhook_signing import verify_signature
from gate.extensions import db
from gate.models import ShiftBookEntry, WebhookSubscription
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, transaction, webhook_delivery, webhooks
from gate.services.sites import create_site, current_site
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def app_config(app_config):
    """A short HTTP timeout, so a stalled receiver costs the test half a second."""
    return dict(app_config, GATE_WEBHOOK_TIMEOUT_SECONDS=0.5)


@pytest.fixture
def receiver():
    """A receiver answering 200 unless told otherwise."""
    with WebhookReceiver() as rx:
        yield rx


def _write(*kinds: str, site: str = "demo") -> list[int]:
    """Append entries of these kinds (one transaction each); their seqs."""
    seqs = []
    for i, kind in enumerate(kinds):
        with transaction():
            seqs.append(shiftbook.append(kind, {"ref_id": i}, site=site).seq)
    return seqs


def _sub(sub_id: int) -> WebhookSubscription:
    db.session.expire_all()
    return db.session.get(WebhookSubscription, sub_id)


def test_events_arrive_in_order_signed_and_verifiable(ctx, receiver):
    """Protects delivery and its signature: new entries arrive in seq order as the documented JSON,
    each signed so that verify_signature accepts it — and rejects a changed body, an old
    timestamp or another secret; entries from before the subscription are not sent."""
    _write("visit.registered")  # before the subscription: not delivered
    sub, secret = webhooks.subscribe(current_site(), receiver.url, [])
    seqs = _write("visit.registered", "visit.admitted", "vehicle.read")

    counts = webhook_delivery.deliver_due()

    assert counts.delivered == 3 and counts.failed == 0
    assert [e["seq"] for e in receiver.events()] == seqs
    first = receiver.requests[0]
    assert first.event == {"id": f"demo:{seqs[0]}", "kind": "visit.registered", "site": "demo",
                           "seq": seqs[0], "at": first.event["at"], "data": {"ref_id": 0}}
    assert first.headers["X-Gatehouse-Event"] == "visit.registered"
    assert first.headers["X-Gatehouse-Delivery"]
    assert len({r.headers["X-Gatehouse-Delivery"] for r in receiver.requests}) == 3
    header = first.headers["X-Gatehouse-Signature"]
    for request in receiver.requests:
        assert verify_signature(secret, request.headers["X-Gatehouse-Signature"], request.body)
    assert not verify_signature(secret, header, first.body.replace(b"visit", b"vIsit"))
    assert not verify_signature("whsec_another", header, first.body)
    t = int(header.split(",")[0][2:])
    assert not verify_signature(secret, header, first.body, now=t + 301)
    assert verify_signature(secret, header, first.body, now=t + 299)
    assert _sub(sub.id).last_seq == seqs[-1]


def test_retry_with_growing_backoff_then_each_event_exactly_once(ctx, receiver):
    """Protects retry with backoff: a 500 and then a timeout each schedule a later attempt, the
    second delay longer than the first; nothing is sent before it is due; after the success
    every event has arrived exactly once, and the next run sends nothing again."""
    sub, _ = webhooks.subscribe(current_site(), receiver.url, [])
    seqs = _write("visit.registered", "visit.admitted", "visit.checked_out")
    receiver.answer(500, "stall")
    t0 = utcnow()

    assert webhook_delivery.deliver_due(t0).failed == 1
    first = _sub(sub.id)
    assert (first.failures, first.last_error, first.last_seq) == (1, "HTTP 500", seqs[0] - 1)
    wait1 = first.next_attempt_at - t0
    assert wait1 >= timedelta(seconds=7)

    before = len(receiver.requests)
    assert webhook_delivery.deliver_due(t0 + wait1 / 2).as_dict() == {"delivered": 0, "failed": 0,
                                                               "paused": 0, "busy": 0}
    assert len(receiver.requests) == before  # not due yet: not called

    t1 = first.next_attempt_at
    assert webhook_delivery.deliver_due(t1).failed == 1
    second = _sub(sub.id)
    assert (second.failures, second.last_error) == (2, "timeout")
    assert second.next_attempt_at - t1 > wait1

    t2 = second.next_attempt_at
    assert webhook_delivery.deliver_due(t2).delivered == 3
    assert webhook_delivery.deliver_due(t2 + timedelta(hours=2)).delivered == 0
    ok = receiver.events()
    assert [e["seq"] for e in ok] == seqs
    assert len({e["id"] for e in ok}) == 3
    done = _sub(sub.id)
    assert (done.failures, done.failing_since, done.next_attempt_at, done.last_error) == (0, None, None, None)


def test_kinds_filter(ctx, receiver):
    """Protects the kinds filter: only entries matching a pattern (prefix.* or an exact kind) are
    sent, "_" in a kind is not a wildcard, and the cursor still moves past the others."""
    sub, _ = webhooks.subscribe(current_site(), receiver.url, ["visit.*", "vehicle.read"])
    seqs = _write("visit.registered", "vehicle.read", "vehicle.read_late", "visitx.other",
                  "barrier.command", "visit.admitted", "shift.started")

    assert webhook_delivery.deliver_due().delivered == 3
    assert [e["kind"] for e in receiver.events()] == ["visit.registered", "vehicle.read", "visit.admitted"]
    assert _sub(sub.id).last_seq == seqs[-1]


def test_a_subscription_only_gets_its_own_site(ctx, receiver):
    """Protects site isolation: a subscription of site B never receives site A's entries, and
    site A cannot see or remove site B's subscription (it is "not found")."""
    with transaction():
        north = create_site("north", "North Gate Estate")
    sub, _ = webhooks.subscribe(north, receiver.url, [])
    _write("visit.registered", "vehicle.read")  # demo
    north_seqs = _write("visit.admitted", site="north")

    webhook_delivery.deliver_due()

    assert [(e["site"], e["seq"]) for e in receiver.events()] == [("north", s) for s in north_seqs]
    demo = current_site()
    assert webhooks.subscriptions(demo) == []
    with pytest.raises(ActionError) as err:
        webhooks.unsubscribe(demo, sub.id)
    assert err.value.code == "not_found"
    assert _sub(sub.id).state == "active"


def test_secret_is_neither_in_the_database_nor_in_the_book(ctx, receiver):
    """Protects the signing secret: it is stored only encrypted (and still signs deliveries), no
    shift-book entry holds it, and removing the subscription destroys it."""
    sub, secret = webhooks.subscribe(current_site(), receiver.url, [])
    _write("visit.registered")
    webhook_delivery.deliver_due()
    assert verify_signature(secret, receiver.requests[0].headers["X-Gatehouse-Signature"],
                            receiver.requests[0].body)

    def dump(table: str) -> str:
        return json.dumps([list(map(str, row)) for row in db.session.execute(text(f"SELECT * FROM {table}"))])

    stored = dump("webhook_subscription")
    assert secret not in stored and secret[6:] not in stored
    assert _sub(sub.id).secret_enc
    book = dump("shift_book_entry")
    assert secret[6:] not in book
    entry = db.session.scalars(select(ShiftBookEntry)
                               .where(ShiftBookEntry.kind == "webhook.subscribed")).one()
    assert json.loads(entry.data) == {"webhook_id": sub.id, "kinds": [], "host": "127.0.0.1"}

    webhooks.unsubscribe(current_site(), sub.id)
    assert _sub(sub.id).secret_enc == "" and _sub(sub.id).state == "removed"
    assert secret[6:] not in dump("shift_book_entry")


def test_secret_does_not_decrypt_on_another_row(ctx, receiver):
    """Protects the encryption's binding to the row: a ciphertext copied onto another
    subscription does not decrypt, so that subscription is not delivered with it."""
    first, _ = webhooks.subscribe(current_site(), receiver.url, [])
    second, _ = webhooks.subscribe(current_site(), receiver.url, [])
    with pytest.raises(RuntimeError):
        webhooks.decrypt_secret(second.id, first.secret_enc)


def _deliver_in_thread(app, results: list) -> None:
    with app.app_context():
        try:
            results.append(webhook_delivery.deliver_due())
        finally:
            db.session.remove()


def test_two_workers_do_not_deliver_the_same_subscription(ctx, receiver):
    """Protects the lease: while one worker's delivery is in flight, a second deliver_due finds the
    subscription claimed and sends nothing, so no event is delivered twice."""
    ctx.config["GATE_WEBHOOK_TIMEOUT_SECONDS"] = 20  # the held call must outlast the other worker
    webhooks.subscribe(current_site(), receiver.url, [])
    seqs = _write("visit.registered", "visit.admitted")
    db.session.remove()
    receiver.answer("hold")
    results: list = []
    worker = threading.Thread(target=_deliver_in_thread, args=(ctx, results))
    worker.start()
    assert receiver.arrived.wait(15)

    other = webhook_delivery.deliver_due()
    db.session.remove()
    receiver.release()
    worker.join(30)

    assert other.as_dict() == {"delivered": 0, "failed": 0, "paused": 0, "busy": 1}
    assert results[0].delivered == 2
    assert [e["seq"] for e in receiver.events()] == seqs
    assert webhook_delivery.deliver_due().delivered == 0


def test_paused_after_failing_too_long_then_resumed(ctx, receiver):
    """Protects the pause: a subscription failing for GATE_WEBHOOK_PAUSE_AFTER_HOURS is paused with
    a shift-book entry and no longer called; resuming (itself recorded) delivers from the
    cursor at once."""
    site = current_site()
    sub, _ = webhooks.subscribe(site, receiver.url, ["visit.*"])
    seqs = _write("visit.registered")
    receiver.default = 503
    t0 = utcnow()
    webhook_delivery.deliver_due(t0)
    late = t0 + timedelta(hours=72, minutes=1)
    counts = webhook_delivery.deliver_due(late)
    assert (counts.failed, counts.paused) == (1, 1)
    paused = _sub(sub.id)
    assert (paused.state, paused.failures) == ("failing", 2)
    entry = db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "webhook.paused")).one()
    assert json.loads(entry.data) == {"webhook_id": sub.id, "failures": 2}

    calls = len(receiver.requests)
    assert webhook_delivery.deliver_due(late + timedelta(days=1)).as_dict()["failed"] == 0
    assert len(receiver.requests) == calls

    webhooks.resume(site, sub.id)
    assert (_sub(sub.id).state, _sub(sub.id).failures, _sub(sub.id).next_attempt_at) == ("active", 0, None)
    with pytest.raises(ActionError) as err:
        webhooks.resume(site, sub.id)
    assert err.value.code == "not_paused"
    assert db.session.scalars(select(ShiftBookEntry).where(ShiftBookEntry.kind == "webhook.resumed")).one()
    receiver.default = 200
    assert webhook_delivery.deliver_due(late).delivered == 1
    assert [e["seq"] for e in receiver.events()] == seqs


def test_redirects_are_not_followed(ctx, receiver):
    """Protects against redirects: a 302 is a failed delivery, and the Location is never requested."""
    sub, _ = webhooks.subscribe(current_site(), receiver.url, [])
    _write("visit.registered")
    receiver.answer(302)
    assert webhook_delivery.deliver_due().failed == 1
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert _sub(sub.id).last_error.startswith("HTTP 302")


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)",
                                 "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x",
                                 "http://user:pw@example.com/hook", "https:///nohost"])
def test_refused_urls(ctx, url):
    """Protects what Gatehouse calls: only http(s) URLs with a host, no credentials, no link-local
    (cloud metadata) address; a refused URL creates nothing."""
    with pytest.raises(ActionError) as err:
        webhooks.subscribe(current_site(), url, [])
    assert err.value.code == "bad_url"
    assert db.session.scalars(select(WebhookSubscription)).all() == []


def test_bad_kinds_are_refused(ctx):
    """Protects the kinds patterns: only entry kinds or prefix.* are accepted."""
    for kinds in (["visit*"], ["*"], ["visit.%"], ["Visit.admitted"]):
        with pytest.raises(ActionError) as err:
            webhooks.subscribe(current_site(), "https://example.com/hook", kinds)
        assert err.value.code == "bad_kinds"


def test_cli_once_delivers_and_exits(app, runner, receiver):
    """Protects `gate webhooks --once` (cron): it delivers what is due and reports the counts."""
    with app.app_context():
        webhooks.subscribe(current_site(), receiver.url, [])
        _write("visit.registered", "visit.admitted")
        db.session.remove()
    result = runner.invoke(args=["webhooks", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered=2" in result.output
    assert len(receiver.events()) == 2
