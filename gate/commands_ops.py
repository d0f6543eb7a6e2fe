"""Operator commands for keeping a site for years: backup and restore (docs/OPERATIONS.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from gate.commands import reports_action_errors


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@with_appcontext
@reports_action_errors
def backup_cmd(dest: Path) -> None:
    """Back up the database and the instance keys into one archive (a new file, or into a folder).

    Safe while the web and the bridge run. The archive holds the keys that sign and check the
    shift book: keep it as safe as the keys themselves.
    """
    from gate.services import backup

    result = backup.create(dest)
    click.echo(f"Backup written to {result.path} ({result.backend} database, schema "
               f"{result.revision or 'not migrated'}, keys: {', '.join(result.keys) or 'none'}).")
    if result.keys_in_settings:
        click.echo(f"warning: {', '.join(result.keys_in_settings)} are set in the configuration, not "
                   "kept in files: back up the environment file too.", err=True)


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace a database that holds data, and keys that differ from the backup's.")
@with_appcontext
@reports_action_errors
def restore_cmd(src: Path, force: bool) -> None:
    """Restore a `gate backup` archive (database and keys), then verify the shift book.

    Stop the web and the bridge first. Exits 1 if the restored shift book does not verify.
    """
    from gate.services import backup

    result = backup.restore(src, force=force)
    click.echo(f"Restored the {result.backend} database (schema {result.revision or 'not migrated'}).")
    if result.keys_written:
        click.echo(f"Keys written: {', '.join(result.keys_written)}.")
    if result.keys_unchanged:
        click.echo(f"Keys already in place: {', '.join(result.keys_unchanged)}.")
    if result.keys_in_settings:
        click.echo(f"warning: the backed-up site set {', '.join(result.keys_in_settings)} in its "
                   "configuration; set the same values here.", err=True)
    head = backup.schema_head()
    if result.revision != head:
        click.echo(f"The schema is older than this release ({head}): run 'gate db upgrade'.")
    click.echo(f"Shift book: {result.verify_line}")
    if not result.verify_ok:
        sys.exit(1)


COMMANDS = [backup_cmd, restore_cmd]  # added to gate.commands.COMMANDS
