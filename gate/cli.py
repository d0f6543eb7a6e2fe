"""The `gate` command line: one entry point for operators."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup
from flask_migrate.cli import db as db_group
from sqlalchemy.exc import OperationalError, ProgrammingError

from gate.app import create_app
from gate.config import ConfigError
from gate.services import ActionError


def _make_app(*_args) -> object:
    return create_app()


cli = FlaskGroup(name="gate", create_app=_make_app, add_default_commands=False,
                 add_version_option=False, load_dotenv=False,
                 help="Gatehouse security-post system. Every command has --help.")
cli.add_command(db_group, "db")


def _db_hint(exc: Exception) -> str:
    text = str(exc).splitlines()[0]
    if "no such table" in text or "does not exist" in text and "relation" in text:
        return "the database is not set up; run 'gate db upgrade' / 数据库未初始化，请运行 gate db upgrade"
    return (f"cannot use the database ({text}); check GATE_DATABASE_URL and that the server is "
            "running / 无法连接数据库，请检查 GATE_DATABASE_URL")


def main(argv: list[str] | None = None) -> None:
    """Entry point: one clear sentence and a non-zero exit on any error, never a traceback."""
    try:
        cli.main(args=argv, prog_name="gate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else 1)
    except click.Abort:
        click.echo("aborted / 已取消", err=True)
        sys.exit(1)
    except ConfigError as exc:
        click.echo(f"error: configuration: {exc} / 配置错误", err=True)
        sys.exit(2)
    except ActionError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        click.echo(f"error: {_db_hint(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:  # last resort: still one sentence, details in the log
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
