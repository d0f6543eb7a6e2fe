"""Operator commands; create_app() attaches them to app.cli, and `gate` runs them."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from gate.commands_webhooks import webhooks_cmd
from gate.services import ActionError, transaction


def bilingual(message: object) -> str:
    """Render a (lazy) message in English and Chinese for the terminal."""
    with force_locale("en"):
        en = str(message)
    with force_locale("zh_CN"):
        zh = str(message)
    return en if en == zh else f"{en} / {zh}"


def reports_action_errors(command: Callable) -> Callable:
    """Turn a refused action into one bilingual sentence and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ActionError as exc:
            raise click.ClickException(bilingual(exc._message)) from None

    return wrapper


@click.command("demo")
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


@click.group("user")
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
@reports_action_errors
def user_add(role, username, display_name, staff_no, phone, pin, password) -> None:
    """Add an account to this site."""
    from gate.services.users import add_user

    site = site_or_fail()
    if role == "guard" and pin is None:
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    if role != "guard" and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction():
        user = add_user(site, role=role, username=username, display_name=display_name,
                        staff_no=staff_no, phone=phone, pin=pin if role == "guard" else None,
                        password=password if role != "guard" else None)
    click.echo(f"Added {role} {user.username} (id {user.id}).")


@click.group("audit")
def audit_group() -> None:
    """Prove the shift book was not edited."""


@audit_group.command("verify")
@click.option("--site", help="Site code (default: GATE_SITE).")
@with_appcontext
def audit_verify(site: str | None) -> None:
    """Recompute the hash chain and checkpoints; exit 1 at the first bad entry."""
    from gate.services import integrity, shiftbook

    result = shiftbook.verify(site)
    click.echo(result.line())
    try:  # the console's banner follows the last verification, wherever it ran
        integrity.record(site, result)
    except OSError as exc:
        click.echo(f"warning: the result could not be kept for the console: {exc}", err=True)
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


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default GATE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default GATE_PORT).")
@with_appcontext
def web_cmd(host: str | None, port: int | None) -> None:
    """Serve the web app only (development server; use gunicorn in production)."""
    from gate.runner import serve_web

    serve_web(current_app._get_current_object(), host, port)


@click.command("run")
@click.option("--host", default=None, help="Address to listen on (default GATE_HOST).")
@click.option("--port", default=None, type=int, help="Port (default GATE_PORT).")
@with_appcontext
def run_cmd(host: str | None, port: int | None) -> None:
    """Run everything: web app, plus an embedded broker and simulated devices if GATE_MQTT_URL is unset."""
    from gate.runner import run_all

    run_all(current_app._get_current_object(), host, port)


@click.command("bridge")
@click.option("--name", default=None, help="This worker's name (default GATE_BRIDGE_NAME).")
@click.option("--shared/--no-shared", default=None,
              help="Share device events with other bridges (MQTT v5 shared subscriptions).")
@with_appcontext
def bridge_cmd(name: str | None, shared: bool | None) -> None:
    """Connect the site's devices to Gatehouse (runs until stopped)."""
    from gate.runner import run_bridge

    run_bridge(current_app._get_current_object(), name, shared)


@click.command("simulate")
@click.option("--fail", "fails", multiple=True, metavar="BARRIER=MODE",
              help="Make a barrier misbehave: MODE is reject or silent (repeatable).")
@click.option("--plates", default="", help="Comma-separated plates for the entry camera to read in turn.")
@click.option("--every", default=15.0, show_default=True, help="Seconds between simulated plate reads.")
@click.option("--repeats", default=1, show_default=True,
              help="Reads per car, as a camera sees one car several times.")
@click.option("--confidence", default=0.95, show_default=True, help="Confidence of the reads (0..1).")
@with_appcontext
def simulate_cmd(fails: tuple[str, ...], plates: str, every: float, repeats: int,
                 confidence: float) -> None:
    """Run simulated barriers, cameras and scanners for this site's devices (until stopped)."""
    from gate.runner import run_simulation

    modes = {}
    for item in fails:
        device, _, mode = item.partition("=")
        if mode not in ("reject", "silent"):
            raise click.ClickException(f"--fail {item!r}: use BARRIER=reject or BARRIER=silent")
        modes[device] = mode
    if not 0 <= confidence <= 1 or repeats < 1:
        raise click.ClickException("--confidence must be 0..1 and --repeats at least 1")
    run_simulation(current_app._get_current_object(), modes,
                   [p.strip() for p in plates.split(",") if p.strip()], every, repeats, confidence)


@click.command("camera")
@click.option("--device", "device_id", default="kiosk-cam", show_default=True,
              help="The scanner id this camera publishes as (from the site file).")
@click.option("--source", required=True,
              help="USB camera index (0), an rtsp:// or http:// stream, or a video file.")
@click.option("--debounce", default=3.0, show_default=True,
              help="Seconds a code must be out of sight before it counts again.")
@with_appcontext
def camera_cmd(device_id: str, source: str, debounce: float) -> None:
    """Read QR codes from the kiosk camera and publish each distinct code once (until stopped)."""
    from device_adapters.camera import CameraError, KioskCamera
    from device_adapters.topics import Topics
    from gate.runner import until_stopped

    url = current_app.config.get("GATE_MQTT_URL")
    if not url:
        raise click.ClickException("GATE_MQTT_URL is not set / 未配置 GATE_MQTT_URL")
    topics = Topics(current_app.config["GATE_MQTT_PREFIX"], current_app.config["GATE_SITE"])
    try:
        camera = KioskCamera(url, topics, device_id, source, debounce_seconds=debounce).start()
    except (CameraError, ValueError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Kiosk camera {device_id} reading {source}; Ctrl+C to stop.")
    try:
        until_stopped()
    finally:
        camera.stop()


@click.group("site")
def site_group() -> None:
    """The estate's layout: posts, gates, lanes and devices."""


@site_group.command("apply")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@with_appcontext
@reports_action_errors
def site_apply(path: str | None) -> None:
    """Load a site file (default GATE_SITE_FILE) into the database; safe to repeat."""
    from gate.runner import apply_site_file

    result = apply_site_file(current_app._get_current_object(), path)
    if result is None:
        raise click.ClickException("name a site file or set GATE_SITE_FILE / 请指定小区布局文件")
    missing = {k: v for k, v in result.missing_from_file.items() if v}
    click.echo(f"Site {current_app.config['GATE_SITE']}: created {dict(result.created) or 'nothing'}, "
               f"updated {dict(result.updated) or 'nothing'}.")
    if missing:
        click.echo(f"In the database but not in the file (kept, not deleted): {missing}")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what is past retention; change nothing.")
@with_appcontext
@reports_action_errors
def purge_cmd(dry_run: bool) -> None:
    """Enforce the retention periods (GATE_RETENTION_*); run it daily, e.g. from a systemd timer or cron."""
    from gate.services import retention

    counts = retention.purge(dry_run=dry_run)
    if dry_run:
        click.echo("Dry run, nothing changed / 试运行，未做更改. Past retention:")
    else:
        click.echo("Purged / 已清理:")
    for kind in retention.KINDS:
        click.echo(f"  {kind:<18} {counts[kind]}")


def site_or_fail():
    """This process's site (GATE_SITE), or one sentence and exit 1 when it is not set up."""
    from gate.services.sites import current_site

    site = current_site()
    if site is None:
        raise click.ClickException(f"site {current_app.config['GATE_SITE']!r} is not set up; run "
                                   "'gate site apply' (or 'gate demo') first")
    return site


@click.group("person")
def person_group() -> None:
    """A person's records on request (PIPL): export or erase them."""


@person_group.command("export")
@click.option("--id-number", is_flag=False, flag_value="-", default=None,
              help="Find the person by ID number; give the option without a value to be asked "
                   "for it (keeps it out of shell history).")
@click.option("--id-type", default="resident_id", show_default=True,
              type=click.Choice(["resident_id", "passport", "other"]), help="Kind of document.")
@click.option("--visitor-id", type=int, help="Find the person by visitor number.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this new file (default: stdout).")
@with_appcontext
@reports_action_errors
def person_export(id_number: str | None, id_type: str, visitor_id: int | None, output: str | None) -> None:
    """Print everything kept about one person as JSON (the ID number only masked)."""
    import json
    import os

    from gate.services import erasure

    if (id_number is None) == (visitor_id is None):
        raise click.ClickException("give either --id-number or --visitor-id / 请指定证件号码或来访人编号")
    if id_number == "-":
        id_number = click.prompt("ID number / 证件号码", hide_input=True)
    site = site_or_fail()
    if visitor_id is None:
        found = erasure.find_by_id_number(site.id, id_type, id_number)
        if not found:
            raise click.ClickException("no visitor with that ID number is recorded here / "
                                       "未找到该证件的来访记录")
        if len(found) > 1:
            ids = ", ".join(str(v.id) for v in found)
            raise click.ClickException(f"several visitor records match ({ids}); export each with "
                                       "--visitor-id / 有多条记录，请逐条导出")
        visitor = found[0]
    else:
        visitor = erasure.get(site.id, visitor_id)
    text = json.dumps(erasure.export(visitor), ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot create {output}: {exc.strerror} / 无法创建文件") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    click.echo(f"Wrote visitor {visitor.id}'s records to {output}.")


@person_group.command("erase")
@click.option("--visitor-id", type=int, required=True, help="The visitor number (see the console or export).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@reports_action_errors
def person_erase(visitor_id: int, yes: bool) -> None:
    """Anonymise one person and their visits and delete their ID-card reads (asks first)."""
    from gate.extensions import db
    from gate.services import erasure

    visitor = erasure.get(site_or_fail().id, visitor_id)
    count = len(erasure.visits_of(visitor))
    click.echo(f"Visitor {visitor.id}: {visitor.name}, ID {visitor.id_masked or '-'}, {count} visit(s).")
    if not yes:
        db.session.rollback()  # hold no database lock while the operator reads and answers
        click.confirm("Erase this person's records? This cannot be undone / 确认清除？此操作不可撤销",
                      abort=True)
        visitor = erasure.get(site_or_fail().id, visitor_id)
    counts = erasure.erase(visitor)
    click.echo(f"Erased visitor {visitor.id} / 已清除: {counts['visits']} visit(s) anonymised, "
               f"{counts['card_events']} card read(s) deleted.")


@person_group.command("erase-resident")
@click.option("--resident-id", type=int, required=True,
              help="The resident number (see the desk's household page).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@reports_action_errors
def person_erase_resident(resident_id: int, yes: bool) -> None:
    """Erase a resident who moved out: name, phone, portal account, cars and notes (asks first)."""
    from gate.extensions import db
    from gate.models import Resident, Unit
    from gate.services import erasure

    def find() -> Resident:
        resident = db.session.get(Resident, resident_id)
        if resident is None or db.session.get(Unit, resident.unit_id).site_id != site_or_fail().id:
            raise click.ClickException("no resident with that number here / 未找到该住户")
        return resident

    resident = find()
    click.echo(f"Resident {resident.id}: {resident.name}, unit {resident.unit.code}.")
    if not yes:
        db.session.rollback()  # hold no database lock while the operator reads and answers
        click.confirm("Erase this resident's records? This cannot be undone / 确认清除？此操作不可撤销",
                      abort=True)
        resident = find()
    counts = erasure.erase_resident(resident)
    click.echo(f"Erased resident {resident.id} / 已清除: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@click.command("deadlines")
@click.option("--no-publish", is_flag=True, help="Record and list overdue items without the MQTT alert.")
@with_appcontext
@reports_action_errors
def deadlines_cmd(no_publish: bool) -> None:
    """List promises (时效制) past their deadline and announce the new ones once on the alerts topic.

    The bridge does this every GATE_DEADLINE_CHECK_SECONDS; run this from cron where no bridge runs.
    """
    from device_adapters import web_link
    from gate.services import deadlines

    site = site_or_fail()

    def publish(item) -> bool:
        return no_publish or web_link.publish_alert(f"overdue_{item.kind}", deadlines.alert_text(item))

    announced = {(i.kind, i.ref_id) for i in deadlines.announce(site, publish)}
    late = deadlines.overdue(site)
    for item in late:
        new = " (announced now / 已发出提醒)" if (item.kind, item.ref_id) in announced else ""
        click.echo(f"{deadlines.alert_text(item)}{new}")
    click.echo(f"{len(late)} overdue / 逾期, {len(announced)} announced now.")


COMMANDS = [site_group, camera_cmd, demo_cmd, user_group, audit_group, web_cmd, run_cmd, bridge_cmd,
            simulate_cmd, purge_cmd, person_group, deadlines_cmd]
from gate.commands_api import api_key_group  # noqa: E402  (integration API keys)

COMMANDS.append(api_key_group)
COMMANDS.append(webhooks_cmd)
from gate.commands_ops import COMMANDS as OPS_COMMANDS  # noqa: E402  (backup, restore)

COMMANDS.extend(OPS_COMMANDS)
from gate.commands_residents import resident_group  # noqa: E402  (registering residents)

COMMANDS.append(resident_group)
