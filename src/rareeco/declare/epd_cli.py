"""``rareeco epd``: build EPDs from the footprints, write their PDF / ILCD+EPD / openEPD files, run the workflow.

Mounted in :mod:`rareeco.cli` as ``app.add_typer(epd_app, name="epd")``.  Errors are one readable line each
(``rareeco.cli.main``).  docs/epd.md shows every command on the demo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rareeco.errors import RareecoError

epd_app = typer.Typer(help="Environmental product declarations (EN 15804+A2, ISO 14025): build, verify, publish.",
                      no_args_is_help=True)

Org = Annotated[str, typer.Option("--org", help="organisation id")]
EpdId = Annotated[int, typer.Argument(help="EPD version id (rareeco epd list)")]
Actor = Annotated[str | None, typer.Option("--actor", help="who does this (default: $RAREECO_USER or login)")]
Lang = Annotated[str, typer.Option("--lang", help="language of the PDF: en or zh")]
PdfOut = Annotated[Path | None, typer.Option("--pdf", help="write the PDF here")]
IlcdOut = Annotated[Path | None, typer.Option("--ilcd", help="write the ILCD+EPD v1.3 XML here")]
OpenEpdOut = Annotated[Path | None, typer.Option("--openepd", help="write the openEPD JSON here")]


def _cli() -> Any:
    from rareeco import cli  # imported late: rareeco.cli imports this module to mount it

    return cli


def _lang(lang: str) -> str:
    if lang not in ("en", "zh"):
        raise RareecoError(f"--lang {lang!r} is not en or zh", fix="use --lang en or --lang zh")
    return lang


def write_outputs(session: Any, e: Any, pdf: Path | None, ilcd_path: Path | None, openepd_path: Path | None,
                  lang: str) -> list[str]:
    """Write the chosen files of EPD version ``e``; each is checked first (ILCD against the schemas, openEPD with
    the openepd model).  Returns one line per file written."""
    from rareeco.declare import epd_pdf, epd_service, ilcd, openepd_export

    epd_service.check_content(e)
    meta = epd_service.meta(session, e)
    done = []
    if ilcd_path is not None:
        xml = ilcd.to_xml(e.content, meta)
        errors = ilcd.validation_errors(xml)
        if errors:
            raise RareecoError(f"the ILCD+EPD document does not validate: {errors[0]}",
                               fix="report this: rareeco wrote an invalid document")
        ilcd_path.write_bytes(xml)
        done.append(f"ILCD+EPD {ilcd_path} ({len(xml):,} bytes, valid against EPD_DataSet.xsd)")
    if openepd_path is not None:
        data = openepd_export.to_json(e.content, meta)
        openepd_path.write_bytes(data)
        done.append(f"openEPD {openepd_path} ({len(data):,} bytes, accepted by the openepd model)")
    if pdf is not None:
        comments = [{"author": c.author, "at": c.at.date().isoformat(), "text": c.text}
                    for c in epd_service.comments(session, e)] if e.status in epd_service.EDITABLE else []
        epd_pdf.write_pdf(e.content, meta, pdf, lang, comments)
        done.append(f"PDF ({lang}) {pdf} ({pdf.stat().st_size:,} bytes)")
    return done


def _headline(e: Any) -> str:
    from rareeco.declare import epd as model

    g = model.result(e.content, "GWP-total")["values"]
    d = f"{g['D']:.3f}" if "D" in g else "MND"
    return (f"GWP-total A1–A3 {g[model.AGGREGATE]:.3f} kg CO2e per {e.content['product']['declared_unit']} "
            f"({e.content['allocation']['used']} allocation); D {d}")


@epd_app.command("build")
def build_cmd(org: Org, product: Annotated[str, typer.Option(help="product id")],
              year: Annotated[int, typer.Option(help="reference year")],
              pdf: PdfOut = None, ilcd: IlcdOut = None, openepd: OpenEpdOut = None, lang: Lang = "en",
              programme: Annotated[str | None, typer.Option(help="programme operator: epd-international or "
                                                            "csre")] = None,
              address: Annotated[str | None, typer.Option(help="the declarant's address")] = None,
              verification: Annotated[str | None, typer.Option(help="external or internal")] = None,
              module_d: Annotated[str | None, typer.Option("--module-d", help="auto or off")] = None,
              eol_recovery_rate: Annotated[float | None, typer.Option(help="module D scenario: share of the "
                                                                      "product's oxide recovered, 0–1")] = None,
              actor: Actor = None) -> None:
    """Create or refresh the draft EPD of a product for a year (from its footprint) and write its files."""
    from rareeco.declare import epd_service

    cli = _cli()
    lang = _lang(lang)
    overrides = {"programme": programme, "address": address, "verification": verification, "module_d": module_d,
                 "eol_recovery_rate": eol_recovery_rate}
    with cli.session() as s:
        e, what = epd_service.build(s, org, product, year, cli.actor_name(actor), overrides)
        cli.out.print(f"EPD {e.id} — {product} {year}, version {e.version} ({e.uuid}): {what}; status {e.status}",
                      highlight=False, soft_wrap=True)
        cli.out.print(_headline(e), highlight=False, soft_wrap=True)
        for line in write_outputs(s, e, pdf, ilcd, openepd, lang):
            cli.out.print(f"wrote {escape(line)}", highlight=False, soft_wrap=True)


@epd_app.command("submit")
def submit_cmd(epd_id: EpdId, org: Org, actor: Actor = None) -> None:
    """Submit a draft for verification (draft → in_verification)."""
    from rareeco.declare import epd_service

    cli = _cli()
    with cli.session() as s:
        e = epd_service.submit(s, org, epd_id, cli.actor_name(actor))
        cli.out.print(f"EPD {e.id} version {e.version}: {e.status}", highlight=False, soft_wrap=True)


@epd_app.command("comment")
def comment_cmd(epd_id: EpdId, org: Org, text: Annotated[str, typer.Option("--text", help="the comment")],
                actor: Actor = None) -> None:
    """Comment on an EPD version (verifier or declarant) before it is published."""
    from rareeco.declare import epd_service

    cli = _cli()
    with cli.session() as s:
        c = epd_service.add_comment(s, org, epd_id, cli.actor_name(actor), text)
        cli.out.print(f"comment {c.id} on EPD {epd_id} by {c.author}", highlight=False, soft_wrap=True)


@epd_app.command("verify")
def verify_cmd(epd_id: EpdId, org: Org,
               actor: Annotated[str, typer.Option("--actor", help="the verifier: a user with the verifier role")],
               ) -> None:
    """Verify a submitted EPD (in_verification → verified); the actor must be a verifier, not the declarant."""
    from rareeco.declare import epd_service

    cli = _cli()
    with cli.session() as s:
        e = epd_service.verify(s, org, epd_id, actor)
        vu = epd_service.valid_until(e.verified_at)
        cli.out.print(f"EPD {e.id} version {e.version}: verified by {e.verified_by} "
                      f"({e.content['verification']['kind']}); valid until {vu}", highlight=False, soft_wrap=True)


@epd_app.command("publish")
def publish_cmd(epd_id: EpdId, org: Org, actor: Actor = None) -> None:
    """Publish a verified EPD; an earlier published version of it becomes superseded."""
    from rareeco.declare import epd_service

    cli = _cli()
    with cli.session() as s:
        e = epd_service.publish(s, org, epd_id, cli.actor_name(actor))
        path = epd_service.meta(s, e)["public_path"]
        cli.out.print(f"EPD {e.id} version {e.version}: published; public files at {path}.pdf, .xml, .json",
                      highlight=False, soft_wrap=True)


@epd_app.command("list")
def list_cmd(org: Org, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every version of every EPD of an organisation."""
    from rareeco.declare import epd_service

    cli = _cli()
    with cli.session() as s:
        rows = [epd_service.summary(s, e) for e in epd_service.list_epds(s, org)]
    if as_json:
        cli.print_json(rows)
        return
    t = Table(title=f"EPDs of {org}")
    for col in ("id", "product", "year", "version", "status", "A1–A3 kg CO2e", "D", "verified by", "published"):
        t.add_column(col, justify="right" if col in ("id", "version", "A1–A3 kg CO2e", "D") else "left", no_wrap=True)
    for r in rows:
        t.add_row(str(r["id"]), r["product"], str(r["year"]), str(r["version"]), r["status"],
                  f"{r['gwp_total_a1_a3_kg_co2e']:.3f}",
                  f"{r['gwp_total_d_kg_co2e']:.3f}" if r["gwp_total_d_kg_co2e"] is not None else "MND",
                  r["verified_by"] or "", r["published_at"] or "")
    cli.out.print(t)


@epd_app.command("show")
def show_cmd(epd_id: EpdId, org: Org, as_json: Annotated[bool, typer.Option("--json")] = False,
             pdf: PdfOut = None, ilcd: IlcdOut = None, openepd: OpenEpdOut = None, lang: Lang = "en") -> None:
    """One EPD version: its results, workflow, comments and versions; --pdf/--ilcd/--openepd write its files."""
    from rareeco.declare import epd_service

    cli = _cli()
    lang = _lang(lang)
    with cli.session() as s:
        e = epd_service.get(s, org, epd_id)
        epd_service.check_content(e)
        info = {**epd_service.summary(s, e),
                "comments": [{"author": c.author, "at": c.at.isoformat(timespec="seconds"), "text": c.text}
                             for c in epd_service.comments(s, e)],
                "versions": [{"id": v.id, "version": v.version, "status": v.status}
                             for v in epd_service.versions(s, e)]}
        written = write_outputs(s, e, pdf, ilcd, openepd, lang)
        if as_json:
            cli.print_json({**info, "declaration": e.content})
        else:
            cli.out.print(f"EPD {e.id}: {info['name']} {e.year}, version {e.version} of {e.uuid} — {e.status}",
                          highlight=False, soft_wrap=True)
            cli.out.print(_headline(e), highlight=False, soft_wrap=True)
            t = Table(title="results per declared unit")
            for col in ("indicator", "unit", "A1–A3", "A1", "A2", "A3", "D"):
                t.add_column(col, justify="left" if col in ("indicator", "unit") else "right", no_wrap=True)
            for r in e.content["results"]:
                if r["status"] == "declared":
                    t.add_row(r["code"], r["unit"], *(f"{r['values'][m]:.3f}" if m in r["values"] else
                                                      "ND" if m in r.get("nd_modules", {}) else "MND"
                                                      for m in ("A1-A3", "A1", "A2", "A3", "D")))
            cli.out.print(t)
            nd = [r["code"] for r in e.content["results"] if r["status"] == "ND"]
            cli.out.print(f"not declared (ND): {', '.join(nd)}", highlight=False, soft_wrap=True)
            for c in info["comments"]:
                cli.out.print(f"comment {c['at']} {c['author']}: {escape(c['text'])}", highlight=False, soft_wrap=True)
            cli.out.print("versions: " + ", ".join(f"v{v['version']} #{v['id']} {v['status']}"
                                                   for v in info["versions"]), highlight=False, soft_wrap=True)
        for line in written:
            cli.err.print(f"wrote {escape(line)}", highlight=False, soft_wrap=True)


@epd_app.command("settings")
def settings_cmd(org: Org,
                 programme: Annotated[str | None, typer.Option(help="epd-international or csre")] = None,
                 address: Annotated[str | None, typer.Option(help="the declarant's address")] = None,
                 verification: Annotated[str | None, typer.Option(help="external or internal")] = None,
                 module_d: Annotated[str | None, typer.Option("--module-d", help="auto or off")] = None,
                 substitutes: Annotated[str | None, typer.Option(help="module D: the primary oxide replaced")] = None,
                 route: Annotated[str | None, typer.Option(help="module D: the recycled oxide of the route")] = None,
                 eol_recovery_rate: Annotated[float | None, typer.Option(help="module D: share recovered, 0–1")] = None,
                 quality_ratio: Annotated[float | None, typer.Option(help="module D: Q_R/Q_Sub, 0–1")] = None,
                 actor: Actor = None) -> None:
    """Show the organisation's EPD settings, or change the ones given.

    They are the defaults of new declarations; a declaration keeps the settings of its latest version (give the
    option to epd build to change one)."""
    from rareeco.declare import epd_service

    cli = _cli()
    changes = {"programme": programme, "address": address, "verification": verification, "module_d": module_d,
               "substitutes": substitutes, "route": route, "eol_recovery_rate": eol_recovery_rate,
               "quality_ratio": quality_ratio}
    with cli.session() as s:
        if any(v is not None for v in changes.values()):
            st = epd_service.set_settings(s, org, changes, cli.actor_name(actor))
        else:
            st = epd_service.settings_of(s, org)
    cli.out.print(json.dumps(st.to_dict(), indent=2, ensure_ascii=False), highlight=False, soft_wrap=True)


@epd_app.command("validate")
def validate_cmd(file: Annotated[Path, typer.Argument(help="an ILCD+EPD .xml or an openEPD .json file")]) -> None:
    """Check a file: ILCD+EPD XML against the shipped schemas (xmlschema), openEPD JSON with the openepd model."""
    from rareeco.declare import ilcd, openepd_export

    cli = _cli()
    if not file.is_file():
        raise RareecoError(f"{file}: no such file", fix="check the path")
    data = file.read_bytes()
    if data.lstrip()[:1] == b"<":
        errors = ilcd.validation_errors(data)
        if errors:
            raise RareecoError(f"{file}: not valid ILCD+EPD ({len(errors)} errors): " + "; ".join(errors[:3]),
                               fix="compare with schemas/EPD_DataSet.xsd")
        cli.out.print(f"{file}: valid ILCD+EPD (EPD_DataSet.xsd)", highlight=False, soft_wrap=True)
        return
    try:
        openepd_export.validate(json.loads(data))
    except Exception as exc:
        raise RareecoError(f"{file}: not accepted by the openepd EPD model: {str(exc).splitlines()[0]}",
                           fix="see the openEPD format (openepd package)") from None
    cli.out.print(f"{file}: accepted by the openepd EPD model", highlight=False, soft_wrap=True)
