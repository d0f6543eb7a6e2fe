"""`gate webhooks`: the worker that delivers shift-book events to webhook subscriptions."""

from __future__ import annotations

import logging
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from gate.extensions import db

log = logging.getLogger(__name__)


def deliver_once(app: Flask) -> dict[str, int]:
    """One pass over every due subscription, in its own app context; returns the counts."""
    from gate.services import webhook_delivery

    with app.app_context():
        try:
            counts = webhook_delivery.deliver_due()
            for error in counts.errors:
                log.warning("%s", error)
            return counts.as_dict()
        finally:
            db.session.remove()


def run_worker(app: Flask, stop: threading.Event, every: float = 2.0) -> None:
    """Deliver what is due every `every` seconds until `stop` is set; a failed pass is retried."""
    while not stop.is_set():
        try:
            counts = deliver_once(app)
            if any(counts.values()):
                log.info("webhooks: %s", counts)
        except Exception:  # a database outage: the next pass tries again
            log.warning("webhook delivery pass failed", exc_info=True)
        stop.wait(every)


def start_thread(app: Flask, every: float = 2.0) -> threading.Event:
    """Run the worker in a daemon thread (inside `gate run`); set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_worker, args=(app, stop, every), name="webhooks", daemon=True).start()
    return stop


@click.command("webhooks")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit (for cron and tests).")
@click.option("--every", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between passes when running continuously.")
@with_appcontext
def webhooks_cmd(once: bool, every: float) -> None:
    """Deliver shift-book events to webhook subscriptions (signed, retried with backoff)."""
    app = current_app._get_current_object()
    db.session.remove()  # hold no transaction of the command's own context
    if once:
        from gate.services import webhook_delivery

        try:
            result = webhook_delivery.deliver_due()
        except Exception as exc:  # the database is unreachable, typically
            raise click.ClickException(f"webhook delivery failed: {exc}") from None
        finally:
            db.session.remove()
        click.echo(" ".join(f"{k}={v}" for k, v in result.as_dict().items()))
        if result.errors:
            raise click.ClickException("; ".join(result.errors))
        return
    from gate.runner import until_stopped

    stop = start_thread(app, every)
    click.echo("Delivering webhooks / 正在推送 webhook; Ctrl+C to stop.")
    try:
        until_stopped()
    finally:
        stop.set()
