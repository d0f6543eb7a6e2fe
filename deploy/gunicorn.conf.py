"""Production gunicorn settings for the Gatehouse web app (kiosk, console, desk, portal).

    gunicorn -c deploy/gunicorn.conf.py gate.wsgi:app

Configuration of the app itself comes from GATE_* variables (gate/config.py); this file reads
only what concerns the server: GATE_BIND (default 127.0.0.1:8000, behind a reverse proxy that
terminates TLS), GATE_WORKERS, GATE_THREADS and GATE_ACCESS_LOG. bench/web.py measures it.
"""

from __future__ import annotations

import os

# Loopback by default: TLS and the public port belong to the reverse proxy in front (nginx),
# which also serves /static/ itself. Set GATE_BIND=0.0.0.0:8000 only on a trusted LAN.
bind = os.environ.get("GATE_BIND", "127.0.0.1:8000")

# Threaded workers, not sync: every kiosk and console page keeps a server-sent-event stream
# (/events/…) open for GATE_EVENTS_STREAM_SECONDS (25 s). Under the sync worker one stream would
# hold a whole process, so the app refuses streams there and the pages fall back to polling.
worker_class = "gthread"

# Threads per worker: 8 (as in README). A gatehouse has a handful of kiosks and supervisor
# screens, each holding one stream plus its page and form requests; 8 threads per worker leave
# room for the streams without queueing taps behind them. Requests spend much of their time
# waiting on PostgreSQL, when the GIL is free, so threads also overlap database round trips.
threads = int(os.environ.get("GATE_THREADS", "8"))

# Workers: Python runs one thread at a time per process, so CPU-bound page rendering needs a
# process per core; the classic 2 × cores + 1 gives each core a second process to run while the
# other waits on the database, and the +1 covers a worker busy restarting. On the 2-core target
# that is 5 workers × 8 threads = 40 concurrent requests and at most 40 database connections (the
# SQLAlchemy pool opens one per busy thread), well under PostgreSQL's default 100. bench/web.py
# measured 3 vs 5 workers on 2 cores (docs/PERFORMANCE.md); override with GATE_WORKERS.
workers = int(os.environ.get("GATE_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))

# Load the app once in the master before forking: a configuration error (missing
# GATE_SECRET_KEY, bad database URL) stops the start-up with one clear message instead of
# workers crash-looping, and the workers share the imported code's memory copy-on-write.
# The database pool created before the fork is reset in post_fork below.
preload_app = True

# A worker whose main loop does not check in for this long is killed and replaced. In gthread
# workers a long request does not block the check-in, so this only catches a wedged process;
# it must stay above the stream length (25 s) in case a deployment switches to sync workers.
timeout = 60
# On restart (deploy, SIGHUP) let running requests finish; streams end within 25 s anyway and
# the browsers reconnect to the new workers.
graceful_timeout = 30
# Keep idle connections from the proxy (or a kiosk browser on the LAN) open briefly so a page's
# follow-up requests reuse them; longer only ties up connection slots.
keepalive = 5

# The access log is off: the reverse proxy logs every request already, and one line per request
# from every worker costs throughput (and repeats visitors' URLs into a second log). Set
# GATE_ACCESS_LOG=1 to log to stdout (journald under systemd) while debugging.
accesslog = "-" if os.environ.get("GATE_ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"} else None
# gunicorn's default format plus the request id the app answered with (X-Request-Id: nginx's
# $request_id when the proxy passes it, else the app's own), to find the app's lines for it.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
errorlog = "-"  # stderr: systemd/journald collects it with the app's own log lines
loglevel = "info"

# Behind the proxy on loopback, trust its X-Forwarded-* headers (the default allow list is
# 127.0.0.1 only); login rate limits key on the client address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker) -> None:
    """Give each worker its own database connections (the preloaded pool must not be shared)."""
    from gate.extensions import db

    app = worker.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            # close=False: leave any socket the master opened alone, just forget it in this child.
            engine.dispose(close=False)
