"""Messages of the web templates and their translations: ``python -m rareeco.web.catalogue`` lists
every message the templates use that the Chinese catalogue lacks (a test requires none)."""

from __future__ import annotations

from importlib import resources

from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from rareeco.web.energy_text import MESSAGES as ENERGY_MESSAGES
from rareeco.web.i18n import catalogue_path

# Messages built in Python code and shown through gettext (roles, sign-in errors, chart labels).
CODE_MESSAGES = ("admin", "steward", "verifier", "viewer",
                 "wrong user name or password", "check both and try again",
                 "too many failed sign-ins; wait and try again",
                 "the demo password is accepted only in demo mode",
                 "direct emissions — {line}")


def template_messages() -> set[str]:
    out: set[str] = set(CODE_MESSAGES) | set(ENERGY_MESSAGES)
    folder = resources.files("rareeco.web").joinpath("templates")
    for item in folder.iterdir():
        if item.name.endswith(".html"):
            with item.open("rb") as f:
                for _line, _func, message, _comments in babel_extract(f, ("_", "gettext", "ngettext"), [],  # type: ignore[arg-type]
                                                                      {"extensions": "jinja2.ext.i18n"}):
                    if isinstance(message, str):
                        out.add(message)
                    elif message and isinstance(message[0], str):
                        out.add(message[0])
    return out


def translated(lang: str = "zh") -> dict[str, str]:
    with open(catalogue_path(lang), "rb") as f:
        cat = read_po(f)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def missing(lang: str = "zh") -> list[str]:
    have = translated(lang)
    return sorted(m for m in template_messages() if m not in have)


if __name__ == "__main__":
    for m in missing():
        print(m)
