"""``rareeco supplier``: pull suppliers' PACT footprints, list, show and map them (docs/suppliers.md).

Mounted in :mod:`rareeco.cli` as ``app.add_typer(supplier_app, name="supplier")``; it uses the root command's
``--db``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

supplier_app = typer.Typer(help="Suppliers' product footprints (PACT v3) used as supplier-specific primary data.",
                           no_args_is_help=True)
out = Console()

Org = Annotated[str, typer.Option("--org", help="organisation id (the buyer)")]


def _root() -> Any:
    import rareeco.cli as root

    return root


@supplier_app.command("pull")
def pull_cmd(url: Annotated[str, typer.Argument(help="the supplier's PACT host, https://…")], org: Org,
             client_id: Annotated[str, typer.Option("--client-id", help="your client id at the supplier's host")],
             client_secret: Annotated[str, typer.Option("--client-secret",
                                                        help="your client secret ('-': read from standard input)")],
             product_id: Annotated[list[str] | None, typer.Option("--product-id", help="productId filter (URN; "
                                                                  "repeatable)")] = None,
             company_id: Annotated[list[str] | None, typer.Option("--company-id", help="companyId filter (URN; "
                                                                  "repeatable)")] = None,
             geography: Annotated[list[str] | None, typer.Option(help="geography filter (repeatable)")] = None,
             classification: Annotated[list[str] | None, typer.Option(help="classification filter (URN; "
                                                                      "repeatable)")] = None,
             valid_on: Annotated[str | None, typer.Option("--valid-on", help="validOn filter (date-time)")] = None,
             status: Annotated[str | None, typer.Option(help="status filter: Active or Deprecated")] = None,
             activity: Annotated[str | None, typer.Option(help="the purchased activity the footprints price, "
                                                          "e.g. purchased.re_concentrate")] = None,
             mapping: Annotated[Path | None, typer.Option(help="YAML/JSON file {productId or footprint id: "
                                                          "activity}")] = None,
             ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA certificate (PEM) of a host with a "
                                                          "self-signed or private certificate")] = None,
             limit: Annotated[int | None, typer.Option(help="page size asked of the host")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False,
             actor: Annotated[str | None, typer.Option("--actor")] = None) -> None:
    """Pull a supplier's footprints over PACT v3 (HTTPS, OAuth2, pages, retries), validate and store them."""
    from rareeco.ingest import pact_client as pc

    root = _root()
    secret = sys.stdin.readline().strip() if client_secret == "-" else client_secret
    with root.session() as s:
        filters = {k: v for k, v in (("productId", product_id), ("companyId", company_id), ("geography", geography),
                                     ("classification", classification), ("validOn", valid_on),
                                     ("status", status)) if v}
        got = pc.pull(s, org, url, client_id, secret, filters=filters,
                      activity=activity, mapping=pc.read_mapping(mapping) if mapping else None, ca_file=ca_file,
                      limit=limit, actor=root.actor_name(actor))
    if as_json:
        root.print_json(got.summary())
        return
    pages = f"{got.pages} page{'s' if got.pages != 1 else ''}"
    retries = f"{got.retries} retr{'ies' if got.retries != 1 else 'y'}"
    out.print(f"{len(got.footprints)} footprints from {url} ({pages}, {retries}): {len(got.stored)} stored, "
              f"{len(got.unchanged)} already held", highlight=False)
    if got.unmapped:
        out.print(f"not mapped to an activity (rareeco supplier map): {', '.join(got.unmapped)}", highlight=False)


@supplier_app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(help="PACT v3 JSON: one footprint, a list, or {data: [...]}")],
               org: Org,
               activity: Annotated[str | None, typer.Option(help="the purchased activity the footprints price")] = None,
               mapping: Annotated[Path | None, typer.Option(help="YAML/JSON file {productId or footprint id: "
                                                            "activity}")] = None,
               actor: Annotated[str | None, typer.Option("--actor")] = None) -> None:
    """Store footprints a supplier sent as a file (validated like a pull)."""
    from rareeco.ingest import pact_client as pc

    root = _root()
    got = pc.read_file(file)
    with root.session() as s:
        pc.store(s, org, got, activity, pc.read_mapping(mapping) if mapping else None, root.actor_name(actor))
    out.print(f"{len(got.footprints)} footprints from {file.name}: {len(got.stored)} stored, "
              f"{len(got.unchanged)} already held", highlight=False)
    if got.unmapped:
        out.print(f"not mapped to an activity (rareeco supplier map): {', '.join(got.unmapped)}", highlight=False)


def _rows(org: str, year: int | None) -> list[dict[str, Any]]:
    from rareeco.ingest import pact_client as pc

    with _root().session() as s:
        rows = pc.rows(s, org)
        gone = pc.superseded(rows)
        return [{"pf_id": r.pf_id, "supplier": r.supplier, "product_ids": r.product_ids, "activity": r.activity,
                 "kg_co2e_per_declared_unit": r.kg_co2e_per_unit, "declared_unit": r.declared_unit,
                 "primary_data_share_pct": r.primary_data_share_pct,
                 "valid_from": r.valid_from, "valid_until": r.valid_until, "status": pc.status_of(r, gone, year),
                 "sha256": r.sha256, "source": r.source, "pulled_at": r.pulled_at} for r in rows]


@supplier_app.command("list")
def list_cmd(org: Org, year: Annotated[int | None, typer.Option(help="status for this reporting year")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The suppliers' footprints held by the organisation, with what each prices and whether it is used."""
    rows = _rows(org, year)
    if as_json:
        _root().print_json(rows)
        return
    t = Table(title=f"{org} — suppliers' footprints")
    for col in ("footprint", "supplier", "activity", "kg CO2e", "per", "primary", "valid", "status"):
        t.add_column(col, no_wrap=col in ("footprint", "kg CO2e"))
    for r in rows:
        pds = r["primary_data_share_pct"]
        t.add_row(r["pf_id"], r["supplier"], r["activity"] or "—", f"{r['kg_co2e_per_declared_unit']:g}",
                  r["declared_unit"], "—" if pds is None else f"{pds:g} %",
                  f"{r['valid_from'] or '…'} – {r['valid_until'] or '…'}", r["status"])
    out.print(t)


@supplier_app.command("show")
def show_cmd(pf_id: str, org: Org) -> None:
    """One footprint as the supplier sent it (PACT v3 JSON), with what rareeco made of it."""
    from rareeco.ingest import pact_client as pc

    root = _root()
    with root.session() as s:
        r = pc.get(s, org, pf_id)
        root.print_json({"pf_id": r.pf_id, "supplier": r.supplier, "activity": r.activity,
                         "kg_co2e_per_declared_unit": r.kg_co2e_per_unit, "declared_unit": r.declared_unit,
                         "primary_data_share_pct": r.primary_data_share_pct, "valid_from": r.valid_from,
                         "valid_until": r.valid_until, "sha256": r.sha256, "source": r.source,
                         "pulled_at": r.pulled_at, "payload": r.payload})


@supplier_app.command("map")
def map_cmd(pf_id: str, activity: Annotated[str, typer.Argument(help="a purchased.* activity, or 'none'")],
            org: Org, actor: Annotated[str | None, typer.Option("--actor")] = None) -> None:
    """Map a footprint to the purchased activity it prices (or 'none' to stop using it)."""
    from rareeco.ingest import pact_client as pc

    root = _root()
    with root.session() as s:
        pc.set_activity(s, org, pf_id, None if activity == "none" else activity, root.actor_name(actor))
    out.print(f"{pf_id} → {activity}", highlight=False)
