"""The `gate` command line: one entry point for operators."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_babel import force_locale
from flask_migrate.cli import db as db_group
from sqlalchemy.exc import OperationalError, ProgrammingError

from gate.app import create_app
from gate.config import ConfigError
from gate.services import ActionError, transaction


def _make_app(*_args) -> object:
    return create_app()


cli = FlaskGroup(name="gate", create_app=_make_app, add_default_commands=False,
                 add_version_option=False, load_dotenv=False,
                 help="Gatehouse security-post system. Every command has --help.")
cli.add_command(db_group, "db")


def bilingual(message: object) -> str:
    """Render a (lazy) message in English and Chinese for the terminal."""
    try:
        with force_locale("en"):
            en = str(message)
        with force_locale("zh_CN"):
            zh = str(message)
    except RuntimeError:  # no app context: the message is plain text
        return str(message)
    return en if en == zh else f"{en} / {zh}"


@cli.command("demo")
@with_appcontext
def demo_cmd() -> None:
    """Load the demo estate (site 'demo', its devices, logins and a day of activity)."""
    from gate.services import demo

    if current_app.config["GATE_ENV"] == "production":
        raise click.ClickException(
            "the demo estate cannot be loaded in production / 生产环境不能加载演示数据")
    if current_app.config["GATE_SITE"] != demo.DEMO_SITE:
        raise click.ClickException("set GATE_SITE=demo to load the demo estate / 请设置 GATE_SITE=demo")
    if demo.load():
        click.echo("Demo estate loaded / 演示小区已加载.")
    else:
        click.echo("Demo estate already loaded / 演示小区已存在, nothing changed.")


@cli.group("user")
def user_group() -> None:
    """Manage accounts."""


@user_group.command("add")
@click.option("--role", required=True, type=click.Choice(["guard", "supervisor", "service_desk",
                                                          "resident", "admin"]))
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="Name shown on screens.")
@click.option("--staff-no", help="Guards: staff number on the badge.")
@click.option("--phone", help="Mobile number (residents log in with it).")
@click.option("--pin", help="Guards: 6-digit PIN (prompted if omitted).")
@click.option("--password", help="Others: password (prompted if omitted).")
@with_appcontext
def user_add(role, username, display_name, staff_no, phone, pin, password) -> None:
    """Add an account to this site."""
    from gate.services.sites import current_site
    from gate.services.users import add_user

    site = current_site()
    if site is None:
        raise click.ClickException(f"site {current_app.config['GATE_SITE']!r} is not set up; run "
                                   "'gate demo' or create the site first")
    if role == "guard" and pin is None:
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    if role != "guard" and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction():
        user = add_user(site, role=role, username=username, display_name=display_name,
                        staff_no=staff_no, phone=phone, pin=pin if role == "guard" else None,
                        password=password if role != "guard" else None)
    click.echo(f"Added {role} {user.username} (id {user.id}).")


@cli.group("audit")
def audit_group() -> None:
    """Prove the shift book was not edited."""


@audit_group.command("verify")
@click.option("--site", help="Site code (default: GATE_SITE).")
@with_appcontext
def audit_verify(site: str | None) -> None:
    """Recompute the hash chain and checkpoints; exit 1 at the first bad entry."""
    from gate.services import shiftbook

    result = shiftbook.verify(site)
    click.echo(result.line())
    if not result.ok:
        sys.exit(1)


@audit_group.command("checkpoint")
@with_appcontext
def audit_checkpoint() -> None:
    """Sign the current head of the shift book with the site's Ed25519 key."""
    from gate.services import shiftbook

    with transaction():
        cp = shiftbook.checkpoint("manual")
    if cp is None:
        raise click.ClickException("the shift book is empty; nothing to sign / 值班日志为空")
    click.echo(f"Signed seq {cp.seq}, head {cp.row_hash}, key {cp.key_id}.")


@cli.command("web")
@click.option("--host", default=None, help="Address to listen on (default GATE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default GATE_PORT).")
@with_appcontext
def web_cmd(host: str | None, port: int | None) -> None:
    """Serve the web app only (development server; use gunicorn in production)."""
    from gate.runner import serve_web

    serve_web(current_app._get_current_object(), host, port)


@cli.command("run")
@click.option("--host", default=None, help="Address to listen on (default GATE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default GATE_PORT).")
@with_appcontext
def run_cmd(host: str | None, port: int | None) -> None:
    """Run everything: web app, plus an embedded broker and simulated devices if GATE_MQTT_URL is unset."""
    from gate.runner import run_all

    run_all(current_app._get_current_object(), host, port)


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
        click.echo(f"error: {bilingual(exc._message)}", err=True)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as exc:
        click.echo(f"error: {_db_hint(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:  # last resort: still one sentence, details in the log
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])

__all__ = ["cli", "main", "Path"]
