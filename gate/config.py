"""Configuration: defaults, then GATE_* environment variables, then the instance file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gate.log_redaction import hide_password

DEFAULT_SECRET = "dev-only-insecure-secret"


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the key."""


# key -> (default, parser). Parsers turn environment strings into typed values.
def _int(value: Any) -> int:
    return int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _str(value: Any) -> str:
    return str(value)


SETTINGS: dict[str, tuple[Any, Any]] = {
    "GATE_ENV": ("development", _str),
    "GATE_SECRET_KEY": (DEFAULT_SECRET, _str),
    "GATE_DATABASE_URL": (None, _str),
    "GATE_MQTT_URL": (None, _str),
    "GATE_MQTT_PREFIX": ("gatehouse", _str),
    "GATE_MQTT_PROTOCOL": ("5", _str),
    "GATE_SITE": ("demo", _str),
    "GATE_SITE_FILE": (None, _str),
    "GATE_SIGNING_KEY_PATH": (None, _str),
    "GATE_ID_HMAC_KEY": (None, _str),
    "GATE_KIOSK_IDLE_MINUTES": (10, _int),
    "GATE_EVENTS_STREAM_SECONDS": (25.0, float),  # one live-event stream, then the browser reconnects
    "GATE_KIOSK_HOME_SECONDS": (120, _int),  # untouched kiosk page -> home (0: never)
    "GATE_LOGIN_MAX_FAILURES": (5, _int),
    "GATE_LOGIN_LOCK_MINUTES": (15, _int),
    "GATE_LOGIN_RATE_LIMIT": ("20 per minute", _str),
    "GATE_DEFAULT_LOCALE": ("zh_CN", _str),
    "GATE_EQUIPMENT": ("radio,keys,logbook,torch,umbrella", _str),
    "GATE_BRIDGE_NAME": ("main", _str),
    "GATE_BRIDGE_SHARED": (False, _bool),
    # How long the broker keeps a stopped bridge's MQTT session and queued events (MQTT 5).
    "GATE_MQTT_SESSION_EXPIRY_SECONDS": (86400, _int),
    "GATE_HA_DISCOVERY": (True, _bool),
    # The database away (docs/RELIABILITY.md): the bridge spools plate events here (empty: the
    # instance folder's spool/), probes the database this often, and refreshes its cache of
    # resident cars this often while the database is up.
    "GATE_OFFLINE_DIR": (None, _str),
    "GATE_OFFLINE_PROBE_SECONDS": (5.0, float),
    "GATE_OFFLINE_CACHE_REFRESH_SECONDS": (60.0, float),
    "GATE_HOUSEKEEPING_MINUTES": (60, _int),
    "GATE_PLATE_MIN_CONFIDENCE": (0.8, float),
    # Reads of the same plate on the same camera within this many seconds are one arrival.
    "GATE_PLATE_DEBOUNCE_SECONDS": (15, _int),
    # A read older than this (late delivery, a camera replaying its queue) opens nothing.
    "GATE_PLATE_MAX_AGE_SECONDS": (120, _int),
    "GATE_COMMAND_TTL_SECONDS": (5.0, float),
    # How long a process trusts what it read of a camera's lane and barrier (0: read every time).
    "GATE_TOPOLOGY_CACHE_SECONDS": (30, _int),
    # 时效制: openings by hand per local day before each further one needs a supervisor's review,
    # the time the supervisor has for it, how long an incident may stay open, how often to check
    "GATE_MANUAL_OPEN_DAILY_LIMIT": (10, _int),
    "GATE_MANUAL_OPEN_REVIEW_MINUTES": (60, _int),
    "GATE_INCIDENT_CLOSE_HOURS": (24, _int),
    "GATE_DEADLINE_CHECK_SECONDS": (30, _int),
    "GATE_TIMEZONE": ("Asia/Shanghai", _str),
    "GATE_HOST": ("127.0.0.1", _str),
    # Reverse proxies in front of the web (nginx: 1) whose X-Forwarded-For/-Proto/-Host are
    # trusted; 0 when clients connect directly (a client could forge those headers).
    "GATE_TRUSTED_PROXIES": (0, _int),
    "GATE_PORT": (5000, _int),
    # Retention (SPEC §5, PIPL art. 19), enforced by `gate purge`.
    "GATE_RETENTION_VISITS_DAYS": (180, _int),
    "GATE_RETENTION_DEVICE_EVENTS_DAYS": (30, _int),  # plate reads, scans, ID-card reads
    "GATE_RETENTION_JOURNAL_DAYS": (365, _int),  # what guards wrote
    "GATE_RETENTION_WATCHLIST_EXPIRED_DAYS": (90, _int),  # after removal or expiry
    "GATE_RETENTION_SLIPS_DAYS": (365, _int),  # release slips' carrier details
    "GATE_RETENTION_VIOLATION_PHOTOS_DAYS": (180, _int),  # photos of vehicle violations
    "GATE_RETENTION_VIOLATIONS_DAYS": (365, _int),  # reviewed violations' plate and notes
    "GATE_RETENTION_INCIDENTS_DAYS": (365, _int),  # closed incidents' written account
    "GATE_RETENTION_MOVED_OUT_DAYS": (365, _int),  # residents who moved out, their cars and account
    "GATE_VISIT_AUTO_CHECKOUT_HOURS": (24, _int),
    # Visitor passes (SPEC §2.2): the key signs pass tokens and nothing else.
    "GATE_PASS_KEY": (None, _str),
    "GATE_PASS_MAX_DAYS": (7, _int),
    "GATE_PASS_MAX_ACTIVE": (20, _int),  # per unit, so one account cannot flood the gate
    "GATE_ACTIVATION_CODE_HOURS": (72, _int),
    # Release slips (放行条): valid on their date, plus this many hours after midnight.
    "GATE_SLIP_KEY": (None, _str),
    "GATE_SLIP_GRACE_HOURS": (0, _int),
    # Integration API (/api/v1): requests per key (and per address sending bad keys).
    "GATE_API_RATE_LIMIT": ("120 per minute", _str),
    # Webhooks: the key that encrypts subscription secrets at rest, the HTTP timeout, the retry
    # backoff (doubling from the first delay up to the cap), and how long a subscription may
    # keep failing before it is paused.
    "GATE_WEBHOOK_KEY": (None, _str),
    "GATE_WEBHOOK_TIMEOUT_SECONDS": (5.0, float),
    "GATE_WEBHOOK_BACKOFF_SECONDS": (10, _int),
    "GATE_WEBHOOK_BACKOFF_MAX_SECONDS": (3600, _int),
    "GATE_WEBHOOK_PAUSE_AFTER_HOURS": (72, _int),
    # Operations (docs/OPERATIONS.md): the bridge's Prometheus endpoint (host:port, empty: off),
    # and the bearer token that lets a scraper off this machine read the web's /metrics.
    "GATE_METRICS_BIND": ("", _str),
    "GATE_METRICS_TOKEN": (None, _str),
}
RETENTION_SETTINGS = ("GATE_RETENTION_VISITS_DAYS", "GATE_RETENTION_DEVICE_EVENTS_DAYS",
                      "GATE_RETENTION_JOURNAL_DAYS", "GATE_RETENTION_WATCHLIST_EXPIRED_DAYS",
                      "GATE_RETENTION_SLIPS_DAYS", "GATE_RETENTION_VIOLATION_PHOTOS_DAYS",
                      "GATE_RETENTION_VIOLATIONS_DAYS", "GATE_RETENTION_INCIDENTS_DAYS",
                      "GATE_RETENTION_MOVED_OUT_DAYS",
                      "GATE_VISIT_AUTO_CHECKOUT_HOURS")


def _validate(values: dict[str, Any]) -> None:
    """Check the values that would otherwise fail late and obscurely."""
    url = values.get("GATE_DATABASE_URL")
    if url and "://" not in url:
        # The value is not repeated: it may hold the database password.
        raise ConfigError("GATE_DATABASE_URL is not a database URL; it must look like "
                          "postgresql+psycopg://user:password@host/dbname or sqlite:///path")
    mqtt = values.get("GATE_MQTT_URL")
    if mqtt:
        parsed = urlparse(mqtt)
        if parsed.scheme not in {"mqtt", "mqtts"} or not parsed.hostname:
            raise ConfigError(
                f"GATE_MQTT_URL must look like mqtt://user:pw@host:1883, got {hide_password(mqtt)!r}"
            )
    if not 0 <= values["GATE_TRUSTED_PROXIES"] <= 5:
        raise ConfigError("GATE_TRUSTED_PROXIES must be 0 (no proxy) to 5 (proxies in front of the web)")
    if not 0 < values["GATE_COMMAND_TTL_SECONDS"] <= 60:
        raise ConfigError("GATE_COMMAND_TTL_SECONDS must be more than 0 and at most 60")
    if not 0 <= values["GATE_PLATE_MIN_CONFIDENCE"] <= 1:
        raise ConfigError("GATE_PLATE_MIN_CONFIDENCE must be a number from 0 to 1")
    for key in ("GATE_SITE", "GATE_MQTT_PREFIX", "GATE_BRIDGE_NAME"):
        text = values[key]
        if not text or not all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
            raise ConfigError(f"{key} must be lower-case letters, digits, '_' or '-', got {text!r}")
        if key != "GATE_MQTT_PREFIX" and text != text.lower():
            raise ConfigError(f"{key} must be lower-case, got {text!r}")
    if values["GATE_MANUAL_OPEN_DAILY_LIMIT"] < 0:
        raise ConfigError("GATE_MANUAL_OPEN_DAILY_LIMIT must be 0 (review every opening by hand) or more")
    if not 0 <= values["GATE_KIOSK_HOME_SECONDS"] <= 3600:
        raise ConfigError("GATE_KIOSK_HOME_SECONDS must be 0 (never) or a whole number of seconds up to 3600")
    if values["GATE_MQTT_PROTOCOL"] not in ("5", "3.1.1"):
        raise ConfigError("GATE_MQTT_PROTOCOL must be 5 or 3.1.1")
    for key in ("GATE_HOUSEKEEPING_MINUTES", "GATE_KIOSK_IDLE_MINUTES", "GATE_LOGIN_MAX_FAILURES",
                "GATE_LOGIN_LOCK_MINUTES", "GATE_PLATE_DEBOUNCE_SECONDS", "GATE_PLATE_MAX_AGE_SECONDS",
                "GATE_PASS_MAX_DAYS", "GATE_PASS_MAX_ACTIVE", "GATE_ACTIVATION_CODE_HOURS",
                "GATE_MANUAL_OPEN_REVIEW_MINUTES", "GATE_INCIDENT_CLOSE_HOURS",
                "GATE_DEADLINE_CHECK_SECONDS", *RETENTION_SETTINGS):
        if values[key] <= 0:
            raise ConfigError(f"{key} must be a positive whole number, got {values[key]!r}")
    try:
        ZoneInfo(values["GATE_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"GATE_TIMEZONE is not a known time zone: {values['GATE_TIMEZONE']!r}") from None
    for name in ("GATE_PASS_KEY", "GATE_SLIP_KEY"):
        key = values.get(name)
        if key is not None and len(key) < 32:
            raise ConfigError(f"{name} must be at least 32 characters of random text")
    for key in ("GATE_WEBHOOK_BACKOFF_SECONDS", "GATE_WEBHOOK_BACKOFF_MAX_SECONDS",
                "GATE_WEBHOOK_PAUSE_AFTER_HOURS"):
        if values[key] <= 0:
            raise ConfigError(f"{key} must be a positive whole number, got {values[key]!r}")
    if not 0 < values["GATE_WEBHOOK_TIMEOUT_SECONDS"] <= 60:
        raise ConfigError("GATE_WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 60")
    if values.get("GATE_WEBHOOK_KEY") is not None and len(values["GATE_WEBHOOK_KEY"]) < 32:
        raise ConfigError("GATE_WEBHOOK_KEY must be at least 32 characters of random text")
    if not 0 <= values["GATE_SLIP_GRACE_HOURS"] <= 24:
        raise ConfigError("GATE_SLIP_GRACE_HOURS must be a whole number from 0 to 24")
    bind = values["GATE_METRICS_BIND"]
    if bind and not (bind.rpartition(":")[0] and bind.rpartition(":")[2].isdigit()):
        raise ConfigError(f"GATE_METRICS_BIND must look like 127.0.0.1:9310 (or be empty), got {bind!r}")
    if values.get("GATE_METRICS_TOKEN") is not None and len(values["GATE_METRICS_TOKEN"]) < 32:
        raise ConfigError("GATE_METRICS_TOKEN must be at least 32 characters of random text")
    try:
        from limits import parse_many
        parse_many(values["GATE_API_RATE_LIMIT"])
    except ValueError:
        raise ConfigError("GATE_API_RATE_LIMIT must look like '120 per minute'") from None
    if values["GATE_ENV"] not in {"development", "production", "testing"}:
        raise ConfigError("GATE_ENV must be development, production or testing")
    if values["GATE_ENV"] == "production" and values["GATE_SECRET_KEY"] == DEFAULT_SECRET:
        raise ConfigError("GATE_SECRET_KEY must be set to a long random value in production")


def load_settings(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings: defaults, then GATE_* env vars, then instance/gate.cfg, then overrides."""
    values: dict[str, Any] = {key: default for key, (default, _) in SETTINGS.items()}
    for key, (_, parse) in SETTINGS.items():
        if key in os.environ:
            try:
                values[key] = parse(os.environ[key])
            except ValueError as exc:
                raise ConfigError(f"{key} is malformed: {exc}") from None
    cfg = instance_path / "gate.cfg"
    if cfg.exists():
        namespace: dict[str, Any] = {}
        try:
            exec(compile(cfg.read_text("utf-8"), str(cfg), "exec"), namespace)  # noqa: S102
        except Exception as exc:  # an operator's typo must name the file, not crash obscurely
            raise ConfigError(f"{cfg} could not be read: {exc}") from None
        for key, value in namespace.items():
            if key.startswith("GATE_"):
                if key not in SETTINGS:
                    raise ConfigError(f"{cfg}: unknown setting {key}")
                values[key] = SETTINGS[key][1](value)
    for key, value in (overrides or {}).items():
        values[key] = value
    _validate(values)
    return values


def flask_config(values: dict[str, Any], instance_path: Path) -> dict[str, Any]:
    """Translate Gatehouse settings into the keys Flask and its extensions read."""
    db_url = values["GATE_DATABASE_URL"] or f"sqlite:///{instance_path / 'gatehouse.db'}"
    key_path = values["GATE_SIGNING_KEY_PATH"] or str(instance_path / "shiftbook-signing.key")
    return {
        "SECRET_KEY": values["GATE_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "GATE_SIGNING_KEY_PATH": key_path,
        "BABEL_DEFAULT_LOCALE": values["GATE_DEFAULT_LOCALE"],
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent.parent / "kiosk_ui" / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": values["GATE_ENV"] == "production",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        "TESTING": values["GATE_ENV"] == "testing",
    }
