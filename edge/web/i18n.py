"""Translations of the console and ``edge watch``: gettext catalogs read and compiled with Babel.

The catalogs are ``edge/web/locale/<locale>/LC_MESSAGES/console.po`` (English source strings as msgids, so
the English catalog only needs the header). At start-up each is parsed and compiled in memory
(``babel.messages.pofile.read_po`` then ``mofile.write_mo``) into a ``gettext.GNUTranslations``: the .po file
is the only copy, and a broken catalog stops the start with its file and line. The browser gets the
compiled messages of its language as JSON (``/api/i18n``).

The language is ``web.language`` (``zh-CN``, ``en``) or ``auto``: the browser's Accept-Language among the
two, else ``web.default_language``.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from importlib import resources

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("zh-CN", "en")
DOMAIN = "console"
# a browser that says only "zh" (or simplified Chinese by script) gets zh-CN
ALIASES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN", "zh-sg": "zh-CN"}


def _locale_dir(language: str) -> str:
    return language.replace("-", "_")


@functools.cache
def translations(language: str) -> gettext.GNUTranslations:
    """The compiled catalog of ``language`` (one of LANGUAGES)."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}; known: {', '.join(LANGUAGES)}")
    source = resources.files("edge.web").joinpath("locale", _locale_dir(language), "LC_MESSAGES", f"{DOMAIN}.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=_locale_dir(language), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_for(language: str) -> Callable[[str], str]:
    return translations(language).gettext


@functools.cache
def messages(language: str) -> dict[str, str]:
    """Every translated message of ``language`` (msgid -> text), for the browser."""
    return {str(k): str(v) for k, v in translations(language)._catalog.items() if k}  # type: ignore[attr-defined]


def negotiate(accept_language: str | None, *, default: str) -> str:
    """The best of LANGUAGES for a browser's Accept-Language header, else ``default``."""
    if not accept_language:
        return default
    preferred = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag and weight > 0:
            preferred.append((weight, tag.strip()))
    ordered = [tag for _, tag in sorted(preferred, key=lambda item: -item[0])]
    found = negotiate_locale(ordered, list(LANGUAGES), sep="-", aliases=ALIASES) if ordered else None
    if found is None:
        return default
    return next((lang for lang in LANGUAGES if lang.lower() == found.lower()), default)
