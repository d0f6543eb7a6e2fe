"""Behind a reverse proxy (GATE_TRUSTED_PROXIES): the client's address and scheme come from the
proxy's X-Forwarded-* headers, and only then."""

from __future__ import annotations

import pytest
from flask import request

from gate.app import create_app
from gate.config import ConfigError
from gate.services.auth import public

HEADERS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "gate.example.cn"}


def _seen(app) -> tuple[str, str, str]:
    @app.get("/_whoami")
    @public
    def whoami():
        return f"{request.remote_addr}|{request.scheme}|{request.host}"

    body = app.test_client().get("/_whoami", headers=HEADERS,
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    return tuple(body.split("|"))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_trusted_proxy_gives_the_client_address_and_https(app_config):
    """Protects per-client login limits and https links behind nginx: with one trusted proxy
    the app sees the browser's address, https and the public host name."""
    app = create_app(dict(app_config, GATE_TRUSTED_PROXIES=1))
    assert _seen(app) == ("203.0.113.7", "https", "gate.example.cn")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_forwarded_headers_are_ignored_without_a_proxy(app_config):
    """Protects a directly reachable server: a client cannot pose as another address (and so
    dodge the login rate limit) by sending X-Forwarded-For itself."""
    app = create_app(dict(app_config, GATE_TRUSTED_PROXIES=0))
    assert _seen(app) == ("127.0.0.1", "http", "localhost")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bad_proxy_count_is_refused_at_start(app_config):
    """Protects against a typo trusting any number of forged hops: the setting is checked at start."""
    with pytest.raises(ConfigError, match="GATE_TRUSTED_PROXIES"):
        create_app(dict(app_config, GATE_TRUSTED_PROXIES=9))
