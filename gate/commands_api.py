"""`gate api-key create|list|revoke`: integration keys for /api/v1 (see docs/API.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gate.commands import reports_action_errors, site_or_fail
from gate.models.integrations import KEY_ROLES


@click.group("api-key")
def api_key_group() -> None:
    """Manage integration API keys of this site (GATE_SITE)."""


@api_key_group.command("create")
@click.option("--name", required=True, help="Which system uses the key, e.g. 'parking vendor'.")
@click.option("--role", required=True, type=click.Choice(KEY_ROLES))
@click.option("--unit", help="Resident keys: the unit, e.g. 1-1-101.")
@with_appcontext
@reports_action_errors
def api_key_create(name: str, role: str, unit: str | None) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    from gate.services import api_keys

    key, clear = api_keys.create(site_or_fail(), name=name, role=role, unit_code=unit)
    click.echo(f"Created key {key.id} ({role}, prefix {key.prefix}). Store it now; it is not shown again:")
    click.echo(clear)


@api_key_group.command("list")
@with_appcontext
def api_key_list() -> None:
    """List the site's keys (never the keys themselves)."""
    from gate.extensions import db
    from gate.models import Unit
    from gate.services import api_keys

    for key in api_keys.listing(site_or_fail()):
        unit = db.session.get(Unit, key.unit_id).code if key.unit_id else "-"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.id}\t{key.prefix}\t{key.role}\t{unit}\t{state}\tlast used {used}\t{key.name}")


@api_key_group.command("revoke")
@click.argument("key_id", type=int)
@with_appcontext
@reports_action_errors
def api_key_revoke(key_id: int) -> None:
    """Revoke a key by its id; requests with it are refused at once."""
    from gate.services import api_keys

    key = api_keys.revoke(site_or_fail(), key_id)
    click.echo(f"Revoked key {key.id} ({key.prefix}).")
