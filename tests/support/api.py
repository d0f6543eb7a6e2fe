"""Calling /api/v1 in tests: keys made through the service, requests with the Bearer header."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gate.extensions import db
from gate.models import Resident, Site, Unit
from gate.services import api_keys

PREFIX = "/api/v1"


def make_key(app, role: str, *, unit: str | None = None, site: str = "demo",
             name: str = "test integration") -> tuple[int, str]:
    """Create a key of `site` through the service; returns (key id, clear key)."""
    with app.app_context():
        row = db.session.scalars(select(Site).where(Site.code == site)).one()
        key, clear = api_keys.create(row, name=name, role=role, unit_code=unit)
        key_id = key.id
        db.session.remove()
    return key_id, clear


def neighbour(app, code: str = "1-1-102", *, owner: bool = True) -> int:
    """Put a resident in another unit (the demo has one household); returns the resident id."""
    with app.app_context():
        unit = db.session.scalars(select(Unit).where(Unit.code == code)).one()
        resident = Resident(unit_id=unit.id, name="赵女士", phone="13800000009", is_owner=owner)
        db.session.add(resident)
        db.session.commit()
        return resident.id


class ApiClient:
    """The test client with one key: `api.get("/visits")` → the response."""

    def __init__(self, client, key: str | None):
        self.client, self.key = client, key

    def open(self, method: str, path: str, json: Any = None, **kwargs) -> Any:
        """Send a request under /api/v1 with the key (if any) in the Authorization header."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.key is not None:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        return self.client.open(PREFIX + path, method=method, json=json, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> Any:
        """GET."""
        return self.open("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs) -> Any:
        """POST with a JSON body."""
        return self.open("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs) -> Any:
        """PATCH with a JSON body."""
        return self.open("PATCH", path, json=json, **kwargs)


def error_code(response) -> str:
    """The stable error code of an error response."""
    return response.get_json()["error"]["code"]
