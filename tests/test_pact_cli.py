"""``rareeco pact``: profile, publish, list and show, buyers (add, list, grant, callbacks, callback-auth, revoke),
the event log; errors are one readable line.  On the hand ledger of test_footprint (2023, products a, b, m)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rareeco.cli import app
from rareeco.declare import pact
from rareeco.ledger.db import make_engine, session_scope
from spec_support import need_pact_spec
from test_footprint import hand_ledger

runner = CliRunner()

need_pact_spec()


def run(db: str, *args: str, stdin: str | None = None) -> str:
    r = runner.invoke(app, ["--db", db, *args], input=stdin, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pact.db'}"
    eng = make_engine(url)
    with session_scope(eng) as s:
        hand_ledger(s, "acme")
    eng.dispose()
    return url


def test_publish_list_show_and_buyers(db: str) -> None:
    out = run(db, "pact", "profile", "acme", "--company-id", "urn:pact:company:customcode:buyer-id:77",
              "--product", "a", "--classification", "urn:pact:productclassification:hs:284690")
    assert json.loads(out)["company_ids"] == ["urn:pact:company:customcode:buyer-id:77"]
    # 2023 is long past its validity only after 2027: the CLI publishes at the current time
    published = json.loads(run(db, "pact", "publish", "--org", "acme", "--product", "a", "--product", "m",
                               "--year", "2023", "--json"))
    assert [p["productIds"][0] for p in published] == ["urn:rareeco:product:acme:a", "urn:rareeco:product:acme:m"]
    assert published[0]["pcf"]["pcfExcludingBiogenicUptake"] == "1.62625"          # 65.05 t × 10/40 ÷ 10 t
    assert published[0]["companyIds"] == ["urn:pact:company:customcode:buyer-id:77"]
    listing = run(db, "pact", "footprints", "acme")
    assert published[0]["id"] in listing and "1.62625" in listing
    assert json.loads(run(db, "pact", "show", "acme", published[1]["id"])) == published[1]

    out = run(db, "pact", "client", "add", "acme", "Magnet Co", "--grant", "a", "--callback-host",
              "Buyer.Example.com:8443")
    client_id = out.split("client_id", 1)[1].split()[0]
    secret = out.split("client_secret", 1)[1].split()[0]
    with session_scope(make_engine(db)) as s:
        assert pact.authenticate(s, client_id, secret) is not None
    run(db, "pact", "grant", "acme", client_id, "m")
    run(db, "pact", "grant", "acme", client_id, "a", "--revoke")
    run(db, "pact", "client", "callback-auth", "acme", client_id, "buyer.example.com:8443", "--client-id",
        "issued-to-acme", stdin="the-buyers-secret\n")
    listing = run(db, "pact", "client", "list", "acme")
    assert f"{client_id}\tMagnet Co\t" in listing and "\tm\tbuyer.example.com:8443" in listing
    assert "the-buyers-secret" not in listing
    run(db, "pact", "client", "revoke", "acme", client_id)
    assert "\t-\tm\t" not in run(db, "pact", "client", "list", "acme")
    with session_scope(make_engine(db)) as s:
        c = pact.get_client(s, "acme", client_id)
        assert c.revoked_at is not None and c.callback_hosts[0]["client_id"] == "issued-to-acme"
        assert pact.authenticate(s, client_id, secret) is None
    assert "time (UTC)" in run(db, "pact", "events", "acme")


def test_errors_are_one_line(db: str) -> None:
    for args, expected in ((["pact", "publish", "--org", "acme", "--product", "zz", "--year", "2023"],
                            "no footprint for product 'zz'"),
                           (["pact", "client", "add", "acme", "X", "--callback-host", "http://x/y"],
                            "is not a host name"),
                           (["pact", "grant", "acme", "pact-acme-nothing", "a"], "no PACT client"),
                           (["pact", "profile", "acme", "--company-id", "not a urn"], "must be URNs")):
        r = subprocess.run([sys.executable, "-m", "rareeco.cli", "--db", db, *args], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 1, r.stderr
        assert expected in r.stderr and "Traceback" not in r.stderr
