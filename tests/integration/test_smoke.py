"""The app starts on both databases with the demo estate and its chain verifies."""

from gate.services import shiftbook


def test_demo_chain_verifies(ctx):
    """Protects the demo estate's shift book: loaded history must verify."""
    result = shiftbook.verify()
    assert result.ok, result.line()
    assert result.count > 5


def test_guard_can_log_in(kiosk):
    """Protects the demo guard login named in the README."""
    response = kiosk.login()
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/kiosk/")
