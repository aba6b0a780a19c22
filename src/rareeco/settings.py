"""Every setting rareeco reads from the environment, declared once and documented (docs/settings.md).

A test checks that each setting here is documented and that the code reads no other ``RAREECO_*`` variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    doc: str

    def get(self) -> str:
        return os.environ.get(self.name, self.default)


SETTINGS = [
    Setting("RAREECO_DATABASE_URL", "sqlite:///rareeco.db",
            "Ledger database: a SQLite file (default, in the working directory) or postgresql://user@host/db. "
            "`--db` overrides it."),
    Setting("RAREECO_USER", "", "Name recorded as the actor of CLI changes (default: the login name)."),
    Setting("RAREECO_DEMO", "0", "1 = demo mode: the demo user's published password is accepted. "
            "`rareeco demo --serve` sets it; anywhere else that password is refused."),
    Setting("RAREECO_SESSION_HOURS", "12", "Hours a web sign-in lasts."),
    Setting("RAREECO_LOGIN_MAX_FAILURES", "5",
            "Failed sign-ins per user name or per client address within the window before further attempts are "
            "refused (HTTP 429)."),
    Setting("RAREECO_LOGIN_WINDOW_MINUTES", "15", "The window of the sign-in rate limit, in minutes."),
    Setting("RAREECO_COOKIE_SECURE", "auto",
            "Session cookie Secure flag: auto (set when the request came over HTTPS), 1 (always) or 0 (never)."),
    Setting("RAREECO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            "Tests only: the PostgreSQL server (an admin database) the PostgreSQL tests create databases on."),
    Setting("RAREECO_CHROMIUM", "/usr/bin/chromium", "Tests only: the Chromium the browser tests drive (Playwright)."),
]
BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    return BY_NAME[name].get()


def get_int(name: str) -> int:
    return int(get(name))


def markdown() -> str:
    """The settings table of docs/settings.md."""
    rows = "\n".join(f"| `{s.name}` | `{s.default}` | {s.doc} |" for s in SETTINGS)
    return ("# Settings\n\nEnvironment variables rareeco reads (declared in `src/rareeco/settings.py`; "
            "regenerate with `python -m rareeco.settings > docs/settings.md`).\n\n"
            "| variable | default | meaning |\n|---|---|---|\n" + rows + "\n")


if __name__ == "__main__":
    print(markdown(), end="")
