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
    Setting("RAREECO_PACT_CERT", "",
            "PACT host: TLS certificate (PEM) `rareeco pact serve` uses; empty: a self-signed one for local use is "
            "generated in RAREECO_PACT_TLS_DIR. `--cert` overrides it."),
    Setting("RAREECO_PACT_KEY", "", "PACT host: the private key (PEM) of RAREECO_PACT_CERT. `--key` overrides it."),
    Setting("RAREECO_PACT_TLS_DIR", "pact-tls",
            "PACT host: folder of the generated self-signed certificate and of the generated token-signing key "
            "(relative to the working directory)."),
    Setting("RAREECO_PACT_SIGNING_KEY", "",
            "PACT host: secret that signs access tokens (HS256, at least 32 characters); empty: one is generated "
            "once and kept beside the certificate (`signing.key`). Every worker must use the same key."),
    Setting("RAREECO_PACT_BASE_URL", "",
            "PACT host: public base URL (https://host[:port]) for the OpenID issuer and the `source` of events; "
            "empty: taken from the request's Host header."),
    Setting("RAREECO_PACT_TOKEN_SECONDS", "3600", "PACT host: lifetime of an access token, in seconds."),
    Setting("RAREECO_PACT_SPEC_DIR", "",
            "Folder of the PACT specification (`v3/openapi.yaml`, `v2/openapi.yaml`) every published footprint is "
            "validated against; empty: `../shared/specs/pact` beside the source checkout."),
    Setting("RAREECO_PACT_CALLBACK_CA", "",
            "PACT host: extra CA certificates (PEM file) trusted when delivering events to buyers' callback hosts; "
            "empty: the system's CAs only."),
    Setting("RAREECO_PACT_RETRY_BASE_SECONDS", "2",
            "PACT host: first retry delay of an undelivered event; doubled after every failed attempt (capped at "
            "one hour, with jitter)."),
    Setting("RAREECO_PACT_RETRY_HOURS", "72", "PACT host: hours after which an undelivered event is given up."),
    Setting("RAREECO_PACT_LIST_REFRESH_MS", "1000",
            "PACT host: how often (milliseconds) a worker refreshes its index of published footprints for "
            "ListFootprints; single footprints are always read fresh."),
    Setting("RAREECO_ENERGY_QUOTA_MAP", "",
            "Energy pages and the monthly energy report: YAML file mapping product id → `route:product` of the "
            "GB 29435 quota template (see src/rareeco/demo/energy-quota.yaml); empty: no quota levels are shown "
            "(in demo mode: the demo's map). `rareeco energy report --map` overrides it."),
    Setting("RAREECO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            "Tests only: the PostgreSQL server (an admin database) the PostgreSQL tests create databases on."),
    Setting("RAREECO_CHROMIUM", "/usr/bin/chromium", "Tests only: the Chromium the browser tests drive (Playwright)."),
    Setting("RAREECO_HJ212_GOLDEN", "../shared/specs/hj212/golden-frames.txt",
            "Tests only: the HJ 212 golden frames (frames with known CRCs from independent public sources) that the "
            "codec tests check their own copy against."),
    Setting("RAREECO_TEST_MQTT", "127.0.0.1:1883",
            "Tests only: host:port of the MQTT broker (Mosquitto) the live meter-reading tests publish to."),
    Setting("RAREECO_TEST_WEBHOOK_SECRET", "",
            "Tests only: the variable the compliance tests name as `webhook.secret_env` (a plant names its own "
            "variable in its compliance settings; see docs/compliance.md)."),
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
