"""The script banner's text: the site's own wording of a script (话术) if it has one, else the
built-in wording from the staff rules (gate.services.builtin_scripts).
"""

from flask import g, has_app_context
from flask_babel import get_locale

from gate.services import script_library
from gate.services.builtin_scripts import SCRIPTS

__all__ = ["SCRIPTS", "script"]


def _site_overrides() -> dict[tuple[str, str], str]:
    """The site's own wordings, read once per request (a page may show several scripts)."""
    cached = g.get(script_library.CACHE_KEY)
    if cached is None:
        cached = g.setdefault(script_library.CACHE_KEY, script_library.served_site_overrides())
    return cached


def script(key: str) -> str:
    """The script text for a banner in the current locale: the site's wording, else the built-in."""
    if has_app_context():
        locale = get_locale()
        lang = "en" if locale is not None and locale.language == "en" else "zh_CN"
        text = _site_overrides().get((key, lang))
        if text is not None:
            return text
    return str(SCRIPTS[key])
