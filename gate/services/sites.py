"""The site this process serves, and setting one up."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy import select

from gate.extensions import db
from gate.models import Post, Site
from gate.services import shiftbook


def current_site() -> Site | None:
    """The Site row for GATE_SITE, once per request."""
    if "site" not in g:
        g.site = db.session.scalars(select(Site).where(Site.code == current_app.config["GATE_SITE"])).first()
    return g.site


def create_site(code: str, name: str, *, is_demo: bool = False) -> Site:
    """Add a site and the genesis of its shift book, inside the caller's transaction."""
    site = Site(code=code, name=name, is_demo=is_demo)
    db.session.add(site)
    db.session.flush()
    shiftbook.ensure_head(code)
    shiftbook.append("site.created", {"site_id": site.id}, site=code)
    return site


def posts(site: Site) -> list[Post]:
    """The site's posts in a stable order."""
    return list(db.session.scalars(select(Post).where(Post.site_id == site.id).order_by(Post.id)))
