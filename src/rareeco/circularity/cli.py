"""``rareeco circularity``: EU CRMA Art. 29 recycled-content declarations (docs/circularity.md).

Mounted in :mod:`rareeco.cli` as ``app.add_typer(circularity_app, name="circularity")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

circularity_app = typer.Typer(help="Recycled content of magnets (EU CRMA Art. 29) from the scrap mass balance.",
                              no_args_is_help=True)
out = Console()


@circularity_app.callback()
def _circularity() -> None:
    """Recycled content of magnets (EU CRMA Art. 29) from the scrap mass balance (docs/circularity.md)."""


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} %"


@circularity_app.command("declare")
def declare_cmd(org: Annotated[str, typer.Option("--org")], product: Annotated[str, typer.Option()],
                year: Annotated[int, typer.Option()],
                assumptions: Annotated[Path | None, typer.Option(help="TOML file of element contents (default: the "
                                                                  "shipped assumptions)")] = None,
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The recycled-content declaration of a magnet product: per element pre-/post-consumer shares and the
    mass balance behind them."""
    import rareeco.cli as root
    from rareeco.circularity.declaration import declare

    with root.session() as s:
        d = declare(s, org, product, year, assumptions)
    if as_json:
        root.print_json(d)
        return
    show(d)


def show(d: dict[str, Any]) -> None:
    t = Table(title=f"{d['organisation']} {d['year']} — {d['product']}: recycled content ({d['regulation']})")
    for col in ("element", "t in product", "pre-consumer", "post-consumer", "total recycled"):
        t.add_column(col, justify="left" if col == "element" else "right", no_wrap=True)
    for el, v in d["elements"].items():
        if not v["present"]:
            t.add_row(el, "not present", "", "", "")
            continue
        t.add_row(el, f"{v['element_t']:,.2f}", _pct(v["pre_consumer_pct"]), _pct(v["post_consumer_pct"]),
                  _pct(v["total_recycled_pct"]))
    out.print(t)
    for rec in d["chain_of_custody"]["recycling_lines"]:
        sc = rec["scrap_t"]
        out.print(f"{rec['line']}: scrap {sc['pre_consumer']:,.1f} t pre-consumer + {sc['post_consumer']:,.1f} t "
                  "post-consumer", highlight=False)
        for el, v in rec["in_t"].items():
            made = sum(rec["out_t"].get(el, {}).values())
            out.print(f"  {el}: in {v['total']:,.2f} t (pre {v['pre_consumer']:,.2f}, post {v['post_consumer']:,.2f}), "
                      f"in products {made:,.2f} t, loss {rec['loss_t'][el]:,.2f} t", highlight=False)
    for st in d["chain_of_custody"]["stages"]:
        used = ", ".join(f"{t:,.1f} t into {p}" for p, t in st["used_t"].items())
        out.print(f"{st['product']} ({st['made_on']}): made {st['made_t']:,.1f} t; {used}; "
                  f"{st['not_used_in_the_chain_t']:,.1f} t not used in the chain", highlight=False)
    for f in d["findings"]:
        out.print(f"[yellow]{f['severity']}[/yellow] {f['message']}", highlight=False)
    for c in d["caveats"]:
        out.print(f"[yellow]caveat[/yellow] {c}", highlight=False)
