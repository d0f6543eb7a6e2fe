"""Benchmark the web app under gunicorn (deploy/gunicorn.conf.py) on PostgreSQL with wrk.

    python bench/web.py            # 15 s per run, 1, 10 and 50 connections (about 6 minutes)
    python bench/web.py --quick    # 3 s per run, 10 connections + one 50-connection check-in (< 60 s)

Needs wrk (`sudo apt-get install -y wrk`) and PostgreSQL; the database (default bench_web) has
its public schema replaced. The script loads the demo estate plus volume (visitors inside now,
past visits, shift-book entries), starts gunicorn as in production (GATE_ENV=production, gthread
workers) on a free loopback port, signs in a guard (kiosk pages; starts a shift) and a supervisor
(console search) over HTTP, and points wrk at: a static file (the framework/server floor),
/healthz (floor plus one database round trip), the kiosk home, the on-site list, the shift-book
search with a typical filter, two integration-API reads with a key (visits, shift-book page),
and a walk-in check-in POST (a new visitor with a valid resident
ID per request, a real visit each; the script checks the visit count in the database). Reports
requests/s, p50/p95/p99, the workers' CPU time per request (user + system, without PostgreSQL's:
steadier than latency on a shared machine) and the peak RSS of the largest worker for each run.

wrk and gunicorn share the machine's cores: on 2 cores the load generator takes part of the CPU
the server would otherwise have, so the figures are a lower bound for the server alone.

SPEC §6 target: kiosk pages p95 ≤ 50 ms and check-in ≥ 300/s on 2 cores (gunicorn, PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import benchlib  # noqa: I001  (puts the repository root on sys.path)
import psutil
from sqlalchemy import func, insert, select

from gate.domain.idcard import check_char
from gate.extensions import db
from gate.models import Resident, Site, Unit, User, Visit, Visitor
from gate.services import api_keys
from tests.support.http_session import Client, guard_on_shift

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_web"
CONFIG = benchlib.ROOT / "deploy" / "gunicorn.conf.py"
WRK_MISSING = "wrk is not installed: sudo apt-get install -y wrk   (Debian/Ubuntu package 'wrk')"

# Lua shared by every run: print wrk's own latency histogram as one JSON line (wrk --latency
# prints no p95), plus the check-in script's count of answers that were not a visit's page.
LUA_DONE = r"""
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads or {}) do bad = bad + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50": %.0f, "p95": %.0f, ' ..
    '"p99": %.0f, "max": %.0f, "non_2xx_3xx": %d, "socket_errors": %d, "unexpected": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout, bad))
end
"""

LUA_GET = """
wrk.method = "GET"
wrk.headers[{header}] = {value}
wrk.headers["User-Agent"] = "gate-bench"
"""

# A walk-in with a different, valid resident ID, name and phone per request (a repeated ID is a
# returning visitor: realistic, but two at once would race on the visitor row's unique key).
# k = run salt, wrk thread and counter; birth date and serial come from k, then the GB 11643
# check character. Success is the 302 to the new visit's page; anything else is counted.
LUA_CHECKIN = r"""
local units = {units}
local salt, counter = 0, 0
bad = 0  -- a global, so done() can read it with thread:get
local weights = {{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}}
local checkmap = "10X98765432"
threads = {{}}
setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
init = function(args) salt = tonumber(args[1]) or 0 end
wrk.method = "POST"
wrk.headers["Cookie"] = {cookie}
wrk.headers["User-Agent"] = "gate-bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  counter = counter + 1
  local k = salt * 1000000 + tid * 100000 + counter
  local d = math.floor(k / 1000)
  local first17 = string.format("110101%04d%02d%02d%03d", 1950 + math.floor(d / 336),
    math.floor(d / 28) % 12 + 1, d % 28 + 1, k % 1000)
  local total = 0
  for i = 1, 17 do total = total + tonumber(first17:sub(i, i)) * weights[i] end
  local id = first17 .. checkmap:sub(total % 11 + 1, total % 11 + 1)
  local body = {fixed} .. "&unit=" .. units[k % #units + 1] .. "&id_number=" .. id ..
    "&name=" .. {name} .. k .. "&phone=139" .. string.format("%08d", k % 100000000)
  return wrk.format(nil, nil, nil, body)
end
response = function(status, headers, body)
  local location = headers["Location"] or headers["location"] or ""
  if status ~= 302 or not location:find("/kiosk/visitors/%d+$") then
    bad = bad + 1
    if bad == 1 then io.stderr:write("unexpected: ", status, " ", location, " ", body:sub(1, 3000), "\n") end
  end
end
"""


def lua_str(text: str) -> str:
    """A Lua string literal (JSON escaping is valid Lua for the ASCII we pass)."""
    return json.dumps(text)


def add_volume(onsite: int, past: int, book_entries: int) -> None:
    """Visitors inside now and past visits (bulk rows), and shift-book entries (book_search.fill)."""
    site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
    units = list(db.session.scalars(select(Unit.id).where(Unit.site_id == site.id)))
    guard = db.session.scalars(select(User.id).where(User.site_id == site.id, User.role == "guard")).first()
    now = datetime.now(UTC)
    visitors = [{"site_id": site.id, "name": f"访客{i}", "phone": f"138{i:08d}", "id_type": "resident_id",
                 "id_masked": f"110101********{i % 10000:04d}", "id_hash": secrets.token_hex(32),
                 "created_at": now - timedelta(days=30), "last_visit_at": now}
                for i in range(onsite + past)]
    ids = list(db.session.scalars(insert(Visitor).returning(Visitor.id), visitors))
    rows = []
    for n, visitor_id in enumerate(ids):
        inside = n < onsite
        came = now - timedelta(minutes=3 * n + 5) if inside else now - timedelta(hours=n % 720, minutes=30)
        rows.append({"site_id": site.id, "visitor_id": visitor_id, "unit_id": units[n % len(units)],
                     "guard_id": guard, "purpose": "探亲", "state": "admitted" if inside else "checked_out",
                     "host_answer": "approved", "host_answered_by": "portal",
                     "slip_token": secrets.token_urlsafe(24), "created_at": came,
                     "admitted_at": came + timedelta(minutes=1),
                     "left_at": None if inside else came + timedelta(hours=2),
                     "left_reason": None if inside else "slip", "version": 1})
    db.session.execute(insert(Visit), rows)
    db.session.commit()
    if book_entries:
        import book_search as book_bench  # bench/book_search.py: same fill as the search benchmark

        book_bench.fill(book_entries)


def prepare(url: str, tmp: Path, args) -> tuple[list[str], dict[str, str]]:
    """Fresh schema, demo estate and volume; the demo's unit codes and an API key per role."""
    benchlib.ensure_pg_database(url)
    app = benchlib.fresh_app(url, tmp)
    with app.app_context():
        add_volume(args.onsite, args.past_visits, args.book_entries)
        # a visitor may only be checked in to a unit someone lives in
        codes = list(db.session.scalars(select(Unit.code).where(Unit.id.in_(select(Resident.unit_id)))
                                        .order_by(Unit.code)))
        site = db.session.scalars(select(Site).where(Site.code == "demo")).one()
        keys = {role: api_keys.create(site, name=f"bench {role}", role=role)[1]
                for role in ("desk", "supervisor")}
        db.session.remove()
        db.engines[None].dispose()
    return codes, keys


def start_gunicorn(url: str, tmp: Path, port: int, args) -> subprocess.Popen:
    """gunicorn with the production config and GATE_ENV=production; waits until workers run."""
    env = {**os.environ, "GATE_BIND": f"127.0.0.1:{port}", "GATE_DATABASE_URL": url,
           "GATE_ENV": "production", "GATE_INSTANCE_PATH": str(tmp), "GATE_HA_DISCOVERY": "false",
           # production refuses the default secret; the three keys would otherwise be generated
           # into the instance folder by whichever worker needs one first
           "GATE_SECRET_KEY": secrets.token_hex(32), "GATE_ID_HMAC_KEY": secrets.token_hex(32),
           "GATE_PASS_KEY": secrets.token_hex(32), "GATE_SLIP_KEY": secrets.token_hex(32),
           # the benchmark signs in twice; a higher limit only keeps reruns from locking out, and
           # the guard's idle timeout must outlast the whole run
           "GATE_LOGIN_RATE_LIMIT": "1000 per minute", "GATE_KIOSK_IDLE_MINUTES": "120",
           # the API keys' limit (120 a minute by default) would answer 429 within a second
           "GATE_API_RATE_LIMIT": "10000000 per minute"}
    env.pop("GATE_MQTT_URL", None)  # no broker: the pages measured publish nothing
    if args.workers:
        env["GATE_WORKERS"] = str(args.workers)
    log = (tmp / "gunicorn.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "gate.wsgi:app"],
                            cwd=benchlib.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        benchlib.wait_port(port, 60)
    except RuntimeError:
        proc.kill()
        sys.exit("gunicorn did not start:\n" + (tmp / "gunicorn.log").read_text()[-3000:])
    return proc


def workers(proc: subprocess.Popen) -> list[int]:
    """The worker pids (children of the gunicorn master)."""
    return [p.pid for p in psutil.Process(proc.pid).children()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the workers have used so far (PostgreSQL's share is not in it)."""
    return sum(sum(psutil.Process(p).cpu_times()[:2]) for p in pids)


def sign_in(port: int) -> tuple[Client, Client, str]:
    """A guard on shift and a supervisor, signed in over HTTP; and the check-in form's CSRF token."""
    guard = guard_on_shift(port)
    form_token = guard.token("/kiosk/visitors/new")
    supervisor = Client(port)
    token = supervisor.token("/login")
    status, _, _ = supervisor.request("POST", "/login", {"csrf_token": token, "login": "supervisor",
                                                         "password": "supervisor-demo"})
    assert status == 302, f"supervisor login: {status}"
    return guard, supervisor, form_token


def wrk(port: int, path: str, lua: Path, connections: int, seconds: float, salt: int = 0) -> dict:
    """One wrk run (2 threads); the BENCH line of its done() as a dict."""
    # --timeout 30s: a slow answer is measured as slow, not dropped as a socket error at 2 s
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds:g}s",
           "--timeout", "30s", "--latency", "-s", str(lua), f"http://127.0.0.1:{port}{path}", "--", str(salt)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = done.stdout
    if done.stderr.strip():
        print(done.stderr.strip()[:3000], file=sys.stderr)
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(line[6:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    for key in ("p50", "p95", "p99", "max"):
        result[key] = result[key] / 1000  # µs -> ms
    return result


def visit_count(url: str, tmp: Path) -> int:
    """Visits in the database now (checked around the check-in runs)."""
    from gate.app import create_app

    app = create_app({"GATE_DATABASE_URL": url, "GATE_INSTANCE_PATH": str(tmp), "GATE_ENV": "testing",
                      "GATE_HA_DISCOVERY": False})
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Visit))
        db.session.remove()
        db.engines[None].dispose()
    return count


def main() -> None:
    """Prepare, serve, sign in, run wrk against each route, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 10 connections (+ one 50)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 15, quick 3)")
    parser.add_argument("--connections", default="1,10,50",
                        help="comma-separated levels (1: one kiosk at a time, the unloaded latency)")
    parser.add_argument("--database-url", default=PG_URL, help="PostgreSQL; its public schema is replaced")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the config's 2×cores+1)")
    parser.add_argument("--onsite", type=int, default=200, help="visitors inside now")
    parser.add_argument("--past-visits", type=int, default=3000, help="visits already checked out")
    parser.add_argument("--book-entries", type=int, default=20_000, help="extra shift-book entries")
    parser.add_argument("--json", help="result file (default bench/results/web.json)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(WRK_MISSING)
    seconds = args.duration or (3 if args.quick else 15)
    levels = [10] if args.quick else [int(c) for c in args.connections.split(",")]
    began = time.monotonic()
    with benchlib.tempdir() as tmpname:
        tmp = Path(tmpname)
        codes, keys = prepare(args.database_url, tmp, args)
        port = benchlib.free_port()
        server = start_gunicorn(args.database_url, tmp, port, args)
        try:
            guard, supervisor, form_token = sign_in(port)
            since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%d")
            gets = [("floor: static file", "/static/gate.css", None),
                    ("floor: /healthz (4 small queries)", "/healthz", None),
                    ("kiosk home", "/kiosk/", guard),
                    ("on-site list", "/kiosk/visitors/onsite", guard),
                    ("book search (kind, 7 days)", f"/console/book/?kind=visit.started&from={since}",
                     supervisor),
                    # the integration API: a key instead of a session (one hash, one lookup)
                    ("API: visits, newest 50 (desk key)", "/api/v1/visits", keys["desk"]),
                    ("API: book page (supervisor key)", "/api/v1/book", keys["supervisor"])]
            scripts = {}
            for name, _path, who in gets:
                lua = tmp / f"get{len(scripts)}.lua"
                header, value = (("Authorization", f"Bearer {who}") if isinstance(who, str)
                                 else ("Cookie", who.cookie_header() if who else ""))
                lua.write_text(LUA_GET.format(header=lua_str(header), value=lua_str(value)) + LUA_DONE)
                scripts[name] = lua
            fixed = urlencode({"csrf_token": form_token, "action": "start", "id_type": "resident_id",
                               "purpose": "探亲", "plate": "", "card_event": ""})
            checkin_lua = tmp / "checkin.lua"
            checkin_lua.write_text(LUA_CHECKIN.format(
                units="{" + ", ".join(lua_str(quote(c)) for c in codes) + "}",
                cookie=lua_str(guard.cookie_header()), fixed=lua_str(fixed), name=lua_str(quote("访客")))
                + LUA_DONE)
            # One check-in by hand first: a form error would otherwise show only as a count.
            status, location, body = guard.request("POST", "/kiosk/visitors/new", {
                "csrf_token": form_token, "action": "start", "id_type": "resident_id", "purpose": "探亲",
                "unit": codes[0], "id_number": "11010119491231002" + check_char("11010119491231002"),
                "name": "试访客", "phone": "13900000000"})
            assert status == 302 and re.search(r"/kiosk/visitors/\d+$", location), (status, body[:800])
            for name, path, _who in gets:  # warm up: templates compile once per worker
                wrk(port, path, scripts[name], 10, 1)
            results, salt = [], 1
            pids = workers(server)
            for level in levels:
                for name, path, _who in gets:
                    rss, cpu = benchlib.PeakRss(pids), cpu_seconds(pids)
                    run = wrk(port, path, scripts[name], level, seconds)
                    results.append({"route": name, "path": path, "connections": level, **run,
                                    "worker_rss_mib": rss.stop(),
                                    "cpu_ms_per_request": (cpu_seconds(pids) - cpu) * 1000 / run["requests"]})
            for level in sorted({*levels, 50}):  # quick mode too: the target is about load
                before = visit_count(args.database_url, tmp)
                rss, cpu = benchlib.PeakRss(pids), cpu_seconds(pids)
                run = wrk(port, "/kiosk/visitors/new", checkin_lua, level, seconds, salt)
                salt += 1
                created = visit_count(args.database_url, tmp) - before
                results.append({"route": "check-in POST", "path": "/kiosk/visitors/new", "connections": level,
                                **run, "worker_rss_mib": rss.stop(), "visits_created": created,
                                "cpu_ms_per_request": (cpu_seconds(pids) - cpu) * 1000 / run["requests"]})
        finally:
            server.terminate()
            server.wait(30)
            errors = [x for x in (tmp / "gunicorn.log").read_text().splitlines() if "Error" in x]
            if errors:  # a failed run's cause is usually in the server's log, which goes with tmp
                print("gunicorn log, errors (last 20 lines):", *errors[-20:], sep="\n  ")
    rows = [(r["route"], r["connections"], round(r["rps"]), r["p50"], r["p95"], r["p99"],
             max(r["non_2xx_3xx"], r["unexpected"]) + r["socket_errors"],
             r.get("visits_created", ""), r["cpu_ms_per_request"], round(r["worker_rss_mib"]))
            for r in results]
    print(f"\ngunicorn gthread, {len(pids)} workers × {os.environ.get('GATE_THREADS', '8')} threads, "
          f"PostgreSQL; wrk {seconds:g} s per run on the same {os.cpu_count()} cores\n")
    benchlib.print_table(["route", "conns", "req/s", "p50 ms", "p95 ms", "p99 ms", "failed",
                          "visits created", "worker CPU ms/req", "worker RSS MiB"], rows)
    for r in results:
        if r["route"] == "check-in POST" and r["visits_created"] < r["requests"] - r["connections"]:
            print(f"WARNING: {r['requests']} check-ins answered but {r['visits_created']} visits created")
    print(f"total {time.monotonic() - began:.0f} s")
    benchlib.write_result("web", {"workers": len(pids), "runs": results}, args, args.json)


if __name__ == "__main__":
    main()
