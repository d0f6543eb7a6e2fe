"""API: /api/v1/webhooks — subscribe (secret shown once), list, remove, resume; supervisor keys only."""

from __future__ import annotations

from datetime import timedelta

from gate.domain.webhook_signing import verify_signature
from gate.extensions import db
from gate.models import WebhookSubscription
from gate.models.types import utcnow
from gate.services import shiftbook, transaction, webhook_delivery, webhooks
from gate.services.sites import create_site
from tests.support.api import ApiClient, error_code, make_key
from tests.support.webhook_receiver import WebhookReceiver


def test_supervisor_subscribes_lists_and_removes(app, client):
    """Protects the subscription endpoints: the secret is returned once (never by the list) and
    signs the deliveries; a removed subscription is gone and receives nothing more."""
    api = ApiClient(client, make_key(app, "supervisor")[1])
    with WebhookReceiver() as rx:
        created = api.post("/webhooks", json={"url": rx.url, "kinds": ["visit.*"]})
        assert created.status_code == 201, created.get_json()
        body = created.get_json()
        assert body["secret"].startswith("whsec_") and body["state"] == "active"
        assert body["kinds"] == ["visit.*"] and body["failures"] == 0
        listed = api.get("/webhooks").get_json()["items"]
        assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
        with app.app_context():
            with transaction():
                shiftbook.append("visit.registered", {"visit_id": 1}, site="demo")
            assert webhook_delivery.deliver_due().delivered == 1
            db.session.remove()
        assert verify_signature(body["secret"], rx.requests[0].headers["X-Gatehouse-Signature"],
                                rx.requests[0].body)

        removed = api.open("DELETE", f"/webhooks/{body['id']}")
        assert removed.status_code == 204
        assert api.get("/webhooks").get_json()["items"] == []
        assert api.open("DELETE", f"/webhooks/{body['id']}").status_code == 404
        with app.app_context():
            with transaction():
                shiftbook.append("visit.admitted", {"visit_id": 1}, site="demo")
            assert webhook_delivery.deliver_due().delivered == 0
            db.session.remove()
        assert len(rx.requests) == 1


def test_refusals_and_scopes(app, client):
    """Protects the endpoint's rules: bad URLs and kinds carry the service's code, unknown fields
    are refused, and desk and resident keys cannot subscribe or list."""
    api = ApiClient(client, make_key(app, "supervisor")[1])
    bad = api.post("/webhooks", json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422 and error_code(bad) == "bad_url"
    kinds = api.post("/webhooks", json={"url": "https://example.com/x", "kinds": ["visit%"]})
    assert kinds.status_code == 422 and error_code(kinds) == "bad_kinds"
    extra = api.post("/webhooks", json={"url": "https://example.com/x", "secret": "mine"})
    assert extra.status_code == 400
    for role, unit in (("desk", None), ("resident", "1-1-101")):
        other = ApiClient(client, make_key(app, role, unit=unit)[1])
        assert other.post("/webhooks", json={"url": "https://example.com/x"}).status_code == 403
        assert other.get("/webhooks").status_code == 403


def test_another_sites_subscription_is_not_found(app, client):
    """Protects site isolation: a key of site A gets 404 for site B's subscription id (remove and
    resume), and B's subscription stays untouched."""
    with app.app_context():
        with transaction():
            north = create_site("north", "North Gate Estate")
        north_id = webhooks.subscribe(north, "https://example.com/north", [])[0].id
        db.session.remove()
    api = ApiClient(client, make_key(app, "supervisor")[1])
    assert api.open("DELETE", f"/webhooks/{north_id}").status_code == 404
    assert api.post(f"/webhooks/{north_id}/resume").status_code == 404
    assert api.get("/webhooks").get_json()["items"] == []
    with app.app_context():
        assert db.session.get(WebhookSubscription, north_id).state == "active"


def test_resume_a_paused_subscription(app, client):
    """Protects resume over the API: a paused (failing) subscription becomes active with its
    failure count reset; resuming an active one is refused with not_paused."""
    api = ApiClient(client, make_key(app, "supervisor")[1])
    with WebhookReceiver(default=500) as rx:
        webhook_id = api.post("/webhooks", json={"url": rx.url}).get_json()["id"]
        with app.app_context():
            with transaction():
                shiftbook.append("visit.registered", {"visit_id": 1}, site="demo")
            t0 = utcnow()
            webhook_delivery.deliver_due(t0)
            assert webhook_delivery.deliver_due(t0 + timedelta(hours=73)).paused == 1
            db.session.remove()
        assert api.get("/webhooks").get_json()["items"][0]["state"] == "failing"
        resumed = api.post(f"/webhooks/{webhook_id}/resume")
        assert resumed.status_code == 200
        assert (resumed.get_json()["state"], resumed.get_json()["failures"]) == ("active", 0)
        again = api.post(f"/webhooks/{webhook_id}/resume")
        assert again.status_code == 422 and error_code(again) == "not_paused"
