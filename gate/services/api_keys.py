"""Integration API keys: create (shown once), list, revoke, and check one sent with a request.

A key reads `gh_<prefix>_<secret>`: the prefix finds the row, the secret is 256 random bits.
Only SHA-256 of the whole key is stored. A fast hash is right here, unlike for passwords: a
secret of 256 random bits cannot be guessed, so a slow hash (argon2) would add nothing but
tens of milliseconds and much memory to every API request. The comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from gate.extensions import db
from gate.models import ApiKey, Role, Site, Unit, User
from gate.models.integrations import KEY_ROLES
from gate.models.types import utcnow
from gate.services import ActionError, shiftbook, sites, transaction
from gate.services.visitors import clean_text

KEY_RE = re.compile(r"^gh_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
# The account a key acts through has the web role matching the key's scope.
ACCOUNT_ROLES = {"resident": Role.RESIDENT, "desk": Role.SERVICE_DESK, "supervisor": Role.SUPERVISOR}
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often (not per request)


def hash_key(clear: str) -> str:
    """SHA-256 of the clear key, hex: what the api_key table keeps."""
    return hashlib.sha256(clear.encode()).hexdigest()


def create(site: Site, *, name: str, role: str, unit_code: str | None = None,
           actor: User | None = None) -> tuple[ApiKey, str]:
    """Add a key and its service account; returns the row and the clear key (shown only now)."""
    label = clean_text(name, 80, fold=False)
    if not label:
        raise ActionError("name_required", _("Give the key a name that says which system uses it."))
    if role not in KEY_ROLES:
        raise ActionError("bad_role", _("The role must be resident, desk or supervisor."))
    unit: Unit | None = None
    if role == "resident":
        if not (unit_code or "").strip():
            raise ActionError("unit_required", _("A resident key needs the unit it belongs to."))
        unit = sites.unit_by_code(site.id, unit_code or "")
    elif (unit_code or "").strip():
        raise ActionError("unit_not_allowed", _("Only a resident key is bound to a unit."))
    prefix = secrets.token_hex(4)
    clear = f"gh_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction():
        # No password and no PIN: the service account cannot log in on the web, only act for the key.
        account = User(site_id=site.id, role=ACCOUNT_ROLES[role], username=f"api-{prefix}",
                       display_name=f"API: {label}"[:80], active=False)
        db.session.add(account)
        db.session.flush()
        key = ApiKey(site_id=site.id, name=label, role=role, unit_id=unit.id if unit else None,
                     user_id=account.id, prefix=prefix, secret_hash=hash_key(clear),
                     created_at=utcnow(), created_by=actor.id if actor else None)
        db.session.add(key)
        db.session.flush()
        shiftbook.append("api_key.created", {"key_id": key.id, "role": role, "prefix": prefix,
                                             "unit_id": key.unit_id, "user_id": account.id},
                         actor_id=actor.id if actor else None, site=site.code)
    return key, clear


def listing(site: Site) -> list[ApiKey]:
    """The site's keys, newest first (revoked ones included, marked by revoked_at)."""
    return list(db.session.scalars(select(ApiKey).where(ApiKey.site_id == site.id)
                                   .order_by(ApiKey.id.desc())))


def revoke(site: Site, key_id: int, actor: User | None = None) -> ApiKey:
    """Revoke a key of this site; every request with it is refused from now on."""
    key = db.session.get(ApiKey, key_id)
    if key is None or key.site_id != site.id:
        raise ActionError("not_found", _("There is no key %(id)s at this estate.", id=key_id))
    if key.revoked_at is not None:
        raise ActionError("already_revoked", _("This key was already revoked."))
    with transaction():
        key.revoked_at, key.revoked_by = utcnow(), actor.id if actor else None
        shiftbook.append("api_key.revoked", {"key_id": key.id, "prefix": key.prefix},
                         actor_id=actor.id if actor else None, site=site.code)
    return key


def check(clear: str) -> ApiKey:
    """The key a request sent; ActionError invalid_key (unknown, malformed) or key_revoked."""
    match = KEY_RE.match(clear or "")
    key = db.session.scalars(select(ApiKey).where(ApiKey.prefix == match.group(1))).first() \
        if match else None
    # Compare even when nothing was found, so a wrong prefix costs the same as a wrong secret.
    stored = key.secret_hash if key is not None else "0" * 64
    if not hmac.compare_digest(stored, hash_key(clear or "")) or key is None:
        raise ActionError("invalid_key", _("The API key is not valid."))
    if key.revoked_at is not None:
        raise ActionError("key_revoked", _("This API key was revoked."))
    return key


def touch(key: ApiKey) -> None:
    """Note when the key was last used, at most once a minute (one small write, own commit)."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY:
        key.last_used_at = now
        db.session.commit()
