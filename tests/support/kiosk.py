"""KioskActions: log in and walk kiosk flows through the test client."""

from __future__ import annotations

from flask.testing import FlaskClient

GUARD = ("1001", "123456")
GUARD2 = ("1002", "654321")
EQUIPMENT = ("radio", "keys", "logbook", "torch", "umbrella")


class KioskActions:
    """Drive the kiosk like a guard would, one request per tap."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def login(self, staff_no: str = GUARD[0], pin: str = GUARD[1]):
        """Sign in at the kiosk keypad."""
        return self.client.post("/kiosk/login", data={"staff_no": staff_no, "pin": pin})

    def login_staff(self, login: str, password: str):
        """Sign in on the desktop login page."""
        return self.client.post("/login", data={"login": login, "password": password})

    def logout(self):
        """Sign out."""
        return self.client.post("/logout")

    def start_shift(self, ack_ids: list[int] | None = None):
        """Tick the given post orders (default: all shown) and start the shift."""
        page = self.client.get("/kiosk/shift/start")
        if ack_ids is None:
            import re

            ack_ids = [int(v) for v in re.findall(r'name="ack" value="(\d+)"', page.get_data(True))]
        return self.client.post("/kiosk/shift/start", data={"ack": [str(i) for i in ack_ids]})

    def write(self, kind: str, **fields: str):
        """Save a journal entry."""
        return self.client.post(f"/kiosk/journal/{kind}", data=fields)

    def handover(self, incoming=GUARD2, outgoing_pin: str = GUARD[1], notes: str = "",
                 counts: dict[str, str] | None = None, broken: tuple[str, ...] = ()):
        """Fill in the handover form and confirm with both PINs."""
        data = {"incoming_staff_no": incoming[0], "incoming_pin": incoming[1],
                "outgoing_pin": outgoing_pin, "notes": notes}
        for key in EQUIPMENT:
            data[f"count_{key}"] = (counts or {}).get(key, "1")
            if key not in broken:
                data[f"ok_{key}"] = "on"
        return self.client.post("/kiosk/shift/handover", data=data)
