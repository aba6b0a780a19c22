"""``rareeco pact``: publish PACT v3 footprints, register buyers and their grants, serve the host over HTTPS.

Mounted in :mod:`rareeco.cli` (``app.add_typer(pact_app, name="pact")``); the ledger session, the actor and the
console come from there, so ``--db`` and ``RAREECO_USER`` work as everywhere else.  docs/pact.md walks through it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

pact_app = typer.Typer(help="PACT v3: publish product footprints, register buyers, serve the host (HTTPS).",
                       no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
client_app = typer.Typer(help="Buyers (PACT API clients) of an organisation.", no_args_is_help=True)
pact_app.add_typer(client_app, name="client")

Actor = Annotated[str | None, typer.Option("--actor", help="who does this (default: $RAREECO_USER or login)")]


def _cli() -> Any:
    """The running :mod:`rareeco.cli` (its ``--db`` and console) — also under ``python -m rareeco.cli``, where
    it is ``__main__`` and importing ``rareeco.cli`` would make a second copy without the options."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "pact_app", None) is pact_app:
        return main
    from rareeco import cli

    return cli


def _footprint_row(f: Any) -> list[str]:
    pcf = f.payload["pcf"]
    return [f.id, f.product_code, pcf["referencePeriodStart"][:4], f.status, f"{f.created_at:%Y-%m-%d %H:%M}",
            pcf["pcfExcludingBiogenicUptake"], pcf.get("primaryDataShare", ""),
            "yes" if "verification" in pcf else "no"]


def _lines(c: Any, header: tuple[str, ...], rows: list[list[str]]) -> None:
    """Tab-separated lines under a header (easy to cut and grep; written as they are, tabs kept)."""
    sys.stdout.write("\n".join("\t".join(r) for r in [list(header), *rows]) + "\n")


FOOTPRINT_COLUMNS = ("id", "product", "year", "status", "created (UTC)", "kg CO2e / declared unit",
                     "primary data %", "verified")


@pact_app.command("publish")
def publish_cmd(org: Annotated[str, typer.Option("--org", help="organisation id")],
                product: Annotated[list[str], typer.Option("--product", help="product id (repeat for several)")],
                year: Annotated[int, typer.Option(help="reporting year of the footprint")],
                allocation: Annotated[str | None, typer.Option(help="mass or economic (default: the organisation's "
                                                               "footprint settings)")] = None,
                as_json: Annotated[bool, typer.Option("--json", help="print the published footprints")] = False,
                actor: Actor = None) -> None:
    """Publish products' stored footprints as PACT v3 ProductFootprints (validated against the PACT schema).

    A product published before gets a new footprint; the earlier one becomes Deprecated."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        rows = [pact.publish(s, org, p, year, c.actor_name(actor), allocation) for p in product]
        if as_json:
            c.print_json([r.payload for r in rows])
            return
        _lines(c, FOOTPRINT_COLUMNS, [_footprint_row(r) for r in rows])


@pact_app.command("footprints")
def footprints_cmd(org: str, product: Annotated[str | None, typer.Option(help="only this product")] = None,
                   status: Annotated[str | None, typer.Option(help="Active or Deprecated")] = None,
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The organisation's published PACT footprints, newest first."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        rows = pact.published(s, org, product, status)
        if as_json:
            c.print_json([r.payload for r in rows])
            return
        _lines(c, FOOTPRINT_COLUMNS, [_footprint_row(r) for r in rows])


@pact_app.command("show")
def show_cmd(org: str, pf_id: str) -> None:
    """One published footprint as JSON (exactly what buyers receive)."""
    from sqlalchemy import select

    from rareeco.errors import NotFoundError
    from rareeco.ledger.models import PactFootprint

    c = _cli()
    with c.session() as s:
        row = s.execute(select(PactFootprint).where(PactFootprint.id == pf_id, PactFootprint.org_id == org)) \
            .scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no footprint {pf_id} in {org}", fix="list them: rareeco pact footprints ORG")
        c.print_json(row.payload)


@pact_app.command("profile")
def profile_cmd(org: str,
                company_name: Annotated[str | None, typer.Option(help="company name buyers see")] = None,
                company_id: Annotated[list[str] | None, typer.Option(help="company URN (repeat; replaces the list; "
                                                                     "default urn:rareeco:org:ORG)")] = None,
                product: Annotated[str | None, typer.Option(help="product the next options are about")] = None,
                product_id: Annotated[list[str] | None, typer.Option(help="extra product URN, e.g. urn:gtin:… "
                                                                     "(repeat; replaces)")] = None,
                classification: Annotated[list[str] | None, typer.Option(
                    help="classification URN, e.g. urn:pact:productclassification:hs:284690 (repeat; replaces)")]
                = None,
                cpc: Annotated[str | None, typer.Option(help="UN CPC code (for v2.3 buyers)")] = None,
                verification_coverage: Annotated[str | None, typer.Option(
                    help="PCF calculation model | PCF program | product level")] = None,
                verification_standard: Annotated[str | None, typer.Option(help="e.g. ISO 14064-3")] = None,
                actor: Actor = None) -> None:
    """Show or change what the organisation declares in PACT: company name and URNs, product URNs and
    classifications, the verification's coverage and standard (used by the next publication)."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        changes = dict(company_name=company_name, company_ids=company_id, product=product, product_ids=product_id,
                       classifications=classification, cpc=cpc, verification_coverage=verification_coverage,
                       verification_standard=verification_standard)
        prof = (pact.set_profile(s, org, c.actor_name(actor), **changes)  # type: ignore[arg-type]
                if any(v is not None for v in changes.values()) else pact.profile(s, org))
        c.print_json(prof.to_dict())


@client_app.command("add")
def client_add(org: str, name: str,
               callback_host: Annotated[list[str] | None, typer.Option(
                   help="host events may be sent to (repeat), e.g. buyer.example.com:8443")] = None,
               grant: Annotated[list[str] | None, typer.Option(help="product the buyer may see (repeat; * = all)")]
               = None,
               company_id: Annotated[list[str] | None, typer.Option(help="the buyer's company URN (repeat)")] = None,
               actor: Actor = None) -> None:
    """Register a buyer: prints its client id and secret — the secret only this once."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        client, secret = pact.add_client(s, org, name, c.actor_name(actor), callback_host or [], grant or [],
                                         company_id or [])
        client_id = client.client_id
    c.out.print(f"client_id     {client_id}", highlight=False)
    c.out.print(f"client_secret {secret}", highlight=False)
    c.err.print("Give both to the buyer now: the secret is stored only as a hash and cannot be shown again.")


@client_app.command("list")
def client_list(org: str) -> None:
    """The organisation's buyers, their grants and callback hosts."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        _lines(c, ("client id", "name", "created (UTC)", "revoked (UTC)", "grants", "callback hosts"),
               [[cl.client_id, cl.name, f"{cl.created_at:%Y-%m-%d %H:%M}",
                 f"{cl.revoked_at:%Y-%m-%d %H:%M}" if cl.revoked_at else "-",
                 ",".join(pact.grants_of(s, cl)) or "-", ",".join(pact.callback_hosts_of(cl)) or "-"]
                for cl in pact.clients(s, org)])


@client_app.command("revoke")
def client_revoke(org: str, client_id: str, actor: Actor = None) -> None:
    """Revoke a buyer: its tokens stop working at once."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        pact.revoke_client(s, org, client_id, c.actor_name(actor))
    c.out.print(f"client {client_id} revoked", highlight=False)


@client_app.command("callbacks")
def client_callbacks(org: str, client_id: str, host: Annotated[list[str] | None, typer.Argument(
        help="hosts events may be sent to (none: no callbacks)")] = None, actor: Actor = None) -> None:
    """Set the hosts a buyer's event callbacks may go to (replaces the list)."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        cl = pact.set_callback_hosts(s, org, client_id, host or [], c.actor_name(actor))
        c.out.print(f"callback hosts of {client_id}: {', '.join(pact.callback_hosts_of(cl)) or 'none'}",
                    highlight=False)


@client_app.command("callback-auth")
def client_callback_auth(org: str, client_id: str, host: str,
                         auth_client_id: Annotated[str | None, typer.Option(
                             "--client-id", help="the client id the buyer issued to us for its token endpoint")] = None,
                         token_url: Annotated[str | None, typer.Option(
                             help="the buyer's token endpoint (default: announced by its OpenID document, else "
                                  "https://HOST/auth/token)")] = None,
                         remove: Annotated[bool, typer.Option("--remove", help="send events without a token")] = False,
                         actor: Actor = None) -> None:
    """Credentials to authenticate at a buyer's callback host (events then carry its bearer token); the secret
    is read from standard input or asked."""
    from rareeco.declare import pact
    from rareeco.errors import ValidationFailed

    c = _cli()
    if not remove and not auth_client_id:
        raise ValidationFailed("--client-id is required", fix="give the buyer's client id, or --remove")
    secret = None if remove else c._password("the buyer's client secret")
    with c.session() as s:
        pact.set_callback_auth(s, org, client_id, host, None if remove else auth_client_id, secret, token_url,
                               c.actor_name(actor))
    c.out.print(f"events to {host} {'are sent without a token' if remove else 'carry a token of ' + host}",
                highlight=False)


@pact_app.command("grant")
def grant_cmd(org: str, client_id: str, product: str,
              revoke: Annotated[bool, typer.Option("--revoke", help="withdraw the grant")] = False,
              actor: Actor = None) -> None:
    """Let a buyer see a product's footprints (* = every product), or withdraw that with --revoke."""
    from rareeco.declare import pact

    c = _cli()
    with c.session() as s:
        if revoke:
            pact.ungrant(s, org, client_id, product, c.actor_name(actor))
        else:
            pact.grant(s, org, client_id, product, c.actor_name(actor))
    c.out.print(f"{'withdrawn' if revoke else 'granted'}: {client_id} {product}", highlight=False)


@pact_app.command("events")
def events_cmd(org: str, limit: Annotated[int, typer.Option(help="latest N")] = 50) -> None:
    """The event log: requests received from buyers and the answers sent (status, attempts, last error)."""
    from sqlalchemy import select

    from rareeco.ledger.models import PactClient, PactEvent

    c = _cli()
    with c.session() as s:
        names = {cl.id: cl.client_id for cl in s.execute(select(PactClient).where(PactClient.org_id == org))
                 .scalars()}
        _lines(c, ("time (UTC)", "dir", "type", "client", "status", "attempts", "target / last error"),
               [[f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.direction, e.event_type.rsplit(".", 2)[-2],
                 names.get(e.client_pk or -1, "-"), e.status, str(e.attempts), e.last_error or e.target_url or "-"]
                for e in s.execute(select(PactEvent).where(PactEvent.org_id == org)
                                   .order_by(PactEvent.id.desc()).limit(limit)).scalars()])


@pact_app.command("deliver")
def deliver_cmd() -> None:
    """Send the events that are due now (the host does this by itself while it runs)."""
    import asyncio

    from rareeco.api.pact import HostConfig, deliver_due

    c = _cli()
    config = HostConfig.from_settings(c.engine(), b"")
    n = 0
    while True:
        sent = asyncio.run(deliver_due(config))
        n += sent
        if not sent:
            break
    c.out.print(f"{n} events delivered")


@pact_app.command("serve")
def serve_cmd(host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
              port: Annotated[int, typer.Option(help="TLS port")] = 8443,
              cert: Annotated[Path | None, typer.Option(help="TLS certificate, PEM (default RAREECO_PACT_CERT; "
                                                        "none: a self-signed one)")] = None,
              key: Annotated[Path | None, typer.Option(help="its private key, PEM (default RAREECO_PACT_KEY)")]
              = None,
              workers: Annotated[int, typer.Option(help="worker processes")] = 1) -> None:
    """Serve the PACT v3 host over HTTPS (never plain HTTP): /auth/token, /3/footprints, /3/events, /2/footprints."""
    from rareeco.api.pact import serve
    from rareeco.tls import server_tls

    c = _cli()
    tls = server_tls(cert, key, [host])
    note = f" (self-signed, {tls.cert}: buyers must trust it explicitly)" if tls.generated else ""
    c.out.print(f"PACT host on https://{host}:{port}/  — token endpoint /auth/token, footprints /3/footprints"
                f"{note}", highlight=False)
    serve(host, port, tls, workers, c._state["db"])


# `rareeco pact pull`: the client side (rareeco.ingest.supplier_cli; the same command as `rareeco supplier pull`)
from rareeco.ingest.supplier_cli import pull_cmd as _pull_cmd  # noqa: E402

pact_app.command("pull")(_pull_cmd)
