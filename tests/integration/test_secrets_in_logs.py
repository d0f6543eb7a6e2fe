"""No secret in the logs: walking the sign-ins and the API, and the net for what libraries say.

Every log record of the process is captured (tests/support/privacy_scan.captured_logs, at
DEBUG, as production formats it). Clear ID numbers are test_no_clear_id.py's; this file is
about credentials: PINs, passwords, API keys, the database's and the broker's passwords.
"""

from __future__ import annotations

import logging
import re

import pytest

from device_adapters.mqtt_url import connect_args
from gate.app import create_app
from gate.config import ConfigError
from tests.support.api import make_key
from tests.support.kiosk import GUARD, KioskActions
from tests.support.privacy_scan import captured_logs

DB_PASSWORD = "Db-pa55-7f3e9c"
MQTT_PASSWORD = "Mq-pa55-41d2aa"


def _absent(secret: str, text: str) -> None:
    assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text), \
        f"{secret!r} appears in the logs"


def test_sign_ins_and_api_keys_are_not_logged(app, client):
    """Protects credentials: a wrong and a right kiosk PIN, staff password and API key (the
    header, and a forged secret on a real prefix) leave nothing of themselves in any log line,
    even one that quotes the Authorization header (as a debugging aid might)."""
    _key_id, key = make_key(app, "desk")
    forged = key[:12] + "x" * (len(key) - 12)
    kiosk = KioskActions(client)
    with captured_logs() as logs:
        kiosk.login(GUARD[0], "654321")
        kiosk.login(*GUARD)
        kiosk.logout()
        kiosk.login_staff("supervisor", "wrong-password-77")
        kiosk.login_staff("supervisor", "supervisor-demo")
        kiosk.logout()
        for clear in (key, forged):
            client.get("/api/v1/units/1-1-101/passes", headers={"Authorization": f"Bearer {clear}"})
        logging.getLogger("gate.test").info("request with Authorization: Bearer %s", key)
    text = logs.getvalue()
    assert "gate.test" in text  # the capture saw the process's records
    for secret in ("654321", GUARD[1], "wrong-password-77", "supervisor-demo", key[12:], forged[12:]):
        _absent(secret, text)


def test_library_lines_quoting_urls_lose_their_passwords(app):
    """Protects the database's and the broker's passwords from lines the project does not write:
    a driver's error quoting the URL, a warning with the broker's URL as an argument."""
    db_url = f"postgresql+psycopg://gate:{DB_PASSWORD}@db.internal:5432/gatehouse"
    with captured_logs() as logs:
        try:
            raise ConnectionError(f"connection to {db_url} failed")
        except ConnectionError:
            logging.getLogger("sqlalchemy.pool.impl.QueuePool").exception("pool error")
        logging.getLogger("paho.mqtt.client").warning(
            "cannot reach %s", f"mqtt://gatehouse-bridge:{MQTT_PASSWORD}@10.0.0.2:1883")
    text = logs.getvalue()
    assert "db.internal" in text and "10.0.0.2" in text
    _absent(DB_PASSWORD, text)
    _absent(MQTT_PASSWORD, text)


@pytest.mark.parametrize("key, value", [
    ("GATE_MQTT_URL", f"tcp://gatehouse-bridge:{MQTT_PASSWORD}@broker:1883"),
    ("GATE_MQTT_URL", f"gatehouse-bridge:{MQTT_PASSWORD}@broker"),
    ("GATE_DATABASE_URL", f"postgresql:/gate:{DB_PASSWORD}@db/gatehouse"),
])
def test_setting_errors_do_not_repeat_passwords(app_config, key, value):
    """Protects passwords in a mistyped URL setting: the start-up error names the key, not the
    password (it is printed to the terminal and the journal)."""
    with pytest.raises(ConfigError, match=key) as refused:
        create_app({**app_config, key: value})
    _absent(MQTT_PASSWORD, str(refused.value))
    _absent(DB_PASSWORD, str(refused.value))


@pytest.mark.parametrize("url", [
    f"mqtt://gatehouse-bridge:{MQTT_PASSWORD}@broker:99999",
    f"mqtt://gatehouse-bridge:{MQTT_PASSWORD}@broker:1883/ws",
    f"mqtt://:{MQTT_PASSWORD}@broker:1883",
    f"ws://gatehouse-bridge:{MQTT_PASSWORD}@broker:1883",
])
def test_broker_url_errors_do_not_repeat_passwords(url):
    """Protects the broker's password in a broker URL the settings check lets through but the
    bridge refuses: its error reaches the terminal ('gate bridge') and the journal."""
    with pytest.raises(ValueError, match="broker") as refused:
        connect_args(url)
    assert "***" in str(refused.value)
    _absent(MQTT_PASSWORD, str(refused.value))
