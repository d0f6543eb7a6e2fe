"""`gate resident add|import`: register a site's residents from the command line (actor: system)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

from gate.commands import bilingual, reports_action_errors, site_or_fail


@click.group("resident")
def resident_group() -> None:
    """Register residents of this site (GATE_SITE): one, or a CSV file of many."""


@resident_group.command("add")
@click.option("--unit", required=True, help="Unit as building-entrance-room, e.g. 1-1-101.")
@click.option("--name", required=True, help="The resident's name.")
@click.option("--phone", required=True, help="11-digit mobile number (the portal login).")
@click.option("--tenant", is_flag=True, help="A tenant, not the owner.")
@with_appcontext
@reports_action_errors
def resident_add(unit: str, name: str, phone: str, tenant: bool) -> None:
    """Register one resident of a unit."""
    from gate.services import household_register

    site_or_fail()
    resident = household_register.register(None, unit, name, phone, not tenant)
    click.echo(f"Registered resident {resident.id} in unit {resident.unit.code} "
               f"({'tenant' if tenant else 'owner'}).")


@resident_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
@reports_action_errors
def resident_import(path: Path) -> None:
    """Register every resident in a CSV file (unit,name,phone,owner), or none if a row is wrong."""
    from gate.services import household_register
    from gate.services.resident_vehicles import ImportRefused
    from kiosk_ui.csv_export import decode_upload  # UTF-8 or GB18030, as the desk page reads it

    site_or_fail()
    text = decode_upload(path.read_bytes())
    if text is None:
        raise click.ClickException("save the file as CSV (UTF-8) / 请将文件保存为 CSV (UTF-8)")
    try:
        with force_locale("en"):  # the reasons per line are rendered as they are found
            rows, problems = household_register.read_csv(text)
            residents = household_register.import_rows(None, rows, problems)
    except ImportRefused as exc:  # the sentence first, then each bad line under it
        lines = "".join(f"\n  line {line}: {message}" for line, message in sorted(exc.problems))
        raise click.ClickException(bilingual(exc._message) + lines) from None
    click.echo(f"Registered {len(residents)} residents from {path.name}.")
