"""The site this process serves, and setting one up."""

from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from gate.domain.units import normalize_unit_code
from gate.extensions import db
from gate.models import Post, Site, Unit
from gate.services import ActionError, shiftbook


def current_site() -> Site | None:
    """The Site row this request serves (an API key's site, else GATE_SITE), once per request."""
    if "site" not in g:
        g.site = db.session.scalars(select(Site).where(Site.code == shiftbook.site_code())).first()
    return g.site


def create_site(code: str, name: str, *, is_demo: bool = False) -> Site:
    """Add a site and the genesis of its shift book, inside the caller's transaction."""
    site = Site(code=code, name=name, is_demo=is_demo)
    db.session.add(site)
    db.session.flush()
    shiftbook.ensure_head(code)
    shiftbook.append("site.created", {"site_id": site.id}, site=code)
    return site


def unit_by_code(site_id: int, code: str) -> Unit:
    """A unit of this site by what was typed (1栋1单元101, 1-1-101…); ActionError says what to fix."""
    try:
        code = normalize_unit_code(code)
    except ValueError:
        raise ActionError("bad_unit", _("Write the unit as building-entrance-room, e.g. 1-1-101.")) from None
    unit = db.session.scalars(select(Unit).where(Unit.site_id == site_id, Unit.code == code)).first()
    if unit is None:
        raise ActionError("unknown_unit", _("Unit %(code)s does not exist. Check building-entrance-room, "
                                            "e.g. 1-1-101.", code=code))
    return unit


def posts(site: Site) -> list[Post]:
    """The site's posts in a stable order."""
    return list(db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.id)))
