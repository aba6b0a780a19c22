"""Translations (gettext catalogues, read with Babel) and locale-aware number formatting.

Templates mark text with ``{{ _("…") }}``; the Chinese catalogue is
``locale/zh_CN/LC_MESSAGES/messages.po``.  English is the source language.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LANGS = ("en", "zh")
LOCALES = {"en": "en", "zh": "zh_CN"}


def normalise(lang: str | None) -> str:
    return "zh" if (lang or "").lower().startswith("zh") else "en"


@cache
def catalogue_path(lang: str) -> str:
    return str(resources.files("rareeco.web").joinpath("locale", LOCALES[lang], "LC_MESSAGES", "messages.po"))


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (compiled in memory from the .po file; no build step)."""
    lang = normalise(lang)
    if lang == "en":
        return gettext.NullTranslations()
    with open(catalogue_path(lang), "rb") as f:
        cat = read_po(f, locale=LOCALES[lang])
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def number(value: float | None, lang: str, digits: int = 1) -> str:
    """``12,345.6`` in both locales (zh_CN groups by thousands too); ``—`` for None."""
    if value is None:
        return "—"
    return format_decimal(round(value, digits), format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                          locale=LOCALES[normalise(lang)])


def percent(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    return format_percent(value, format="#,##0.0%", locale=LOCALES[normalise(lang)])
