"""The inventory workbook (openpyxl): a summary sheet, one sheet per breakdown, factors, notes, provenance.

Numbers are written as numbers with a number format, never as text, so the workbook can be
recalculated and checked; every string comes from :mod:`rareeco.reports.labels`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from rareeco.reports.model import SCOPE_COLUMNS, Report, build, sum_rows

T_FORMAT = "#,##0.000"          # t CO2e
SHARE_FORMAT = "0.0%"
AMOUNT_FORMAT = "#,##0.###"
FACTOR_FORMAT = "General"
HEADER_FILL = PatternFill("solid", fgColor="1B4965")
HEADER_FONT = Font(bold=True, color="FFFFFF")
BOLD = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
TOTAL_BORDER = Border(top=Side(style="thin", color="000000"))
MIN_WIDTH, MAX_WIDTH = 8, 70


def _width(value: Any, number_format: str) -> int:
    """Display width of a cell: CJK characters count double; numbers as formatted."""
    if value is None:
        return 0
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, int | float):
        text = f"{value:,.3f}" if number_format == T_FORMAT else f"{value:,}"
    else:
        text = max(str(value).split("\n"), key=len)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _autosize(ws: Worksheet, skip_rows: Iterable[int] = ()) -> None:
    """Column widths from the content (rows in ``skip_rows``, e.g. a title, are ignored)."""
    skip = set(skip_rows)
    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.row in skip or cell.value is None:
                continue
            col = cell.column
            assert isinstance(col, int)
            widths[col] = max(widths.get(col, 0), _width(cell.value, cell.number_format))
    for col, w in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(max(w + 2, MIN_WIDTH), MAX_WIDTH)


def _header(ws: Worksheet, row: int, names: Sequence[str], col: int = 1) -> None:
    for i, name in enumerate(names):
        c = ws.cell(row=row, column=col + i, value=name)
        c.font = HEADER_FONT
        c.fill = HEADER_FILL
        c.alignment = Alignment(vertical="center", wrap_text=False)


def _put(ws: Worksheet, row: int, col: int, value: Any, number_format: str | None = None,
         bold: bool = False) -> None:
    c = ws.cell(row=row, column=col, value=value)
    if number_format and isinstance(value, int | float) and not isinstance(value, bool):
        c.number_format = number_format
    if bold:
        c.font = BOLD


def _empty_workbook() -> Workbook:
    """A workbook without openpyxl's default sheet (each report names its own)."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    return wb


def _fraction(pct: float | None) -> float | None:
    """A percentage as the fraction an Excel percent format shows."""
    return None if pct is None else pct / 100.0


def _title(ws: Worksheet, text: str, row: int = 1) -> None:
    c = ws.cell(row=row, column=1, value=text)
    c.font = TITLE_FONT


def _scope_headers(r: Report) -> list[str]:
    return [r.L["with_unit"].format(name=r.L[short], unit=r.L["unit_short"]) for _, _, short in SCOPE_COLUMNS]


def _scope_table(ws: Worksheet, r: Report, start: int, keys: list[str],
                 rows: Sequence[tuple[Sequence[str], dict[str, float]]], total: bool = True) -> int:
    """A table of ``keys`` columns then the six scope columns, with a total row; returns the next row."""
    _header(ws, start, [*keys, *_scope_headers(r)])
    n = start + 1
    for labels_, values in rows:
        for i, text in enumerate(labels_):
            _put(ws, n, 1 + i, text)
        for j, (k, _, _) in enumerate(SCOPE_COLUMNS):
            _put(ws, n, 1 + len(keys) + j, values[k], T_FORMAT)
        n += 1
    if total and rows:
        sums = sum_rows([v for _, v in rows])
        _put(ws, n, 1, r.L["total_row"], bold=True)
        for j, (k, _, _) in enumerate(SCOPE_COLUMNS):
            _put(ws, n, 1 + len(keys) + j, sums[k], T_FORMAT, bold=True)
        for col in range(1, len(keys) + len(SCOPE_COLUMNS) + 1):
            ws.cell(row=n, column=col).border = TOTAL_BORDER
        n += 1
    return n


def _summary(ws: Worksheet, r: Report) -> None:
    L = r.L
    _title(ws, f"{L['workbook_title']} – {r.organisation} {r.year}")
    meta: list[tuple[str, Any]] = [
        (L["organisation"], r.organisation), (L["year"], r.year), (L["period"], r.period),
        (L["method"], r.method_label), (L["gwp_set"], r.gwp_label), (L["result_id"], r.result_id),
        (L["status"], r.status), (L["calculated_at"], r.provenance.get("calculated_at", "")),
        (L["software_version"], r.provenance.get("software_version", "")),
    ]
    n = 3
    for label, value in meta:
        _put(ws, n, 1, label, bold=True)
        _put(ws, n, 2, value)
        n += 1
    n += 1
    heads = [L["item"]] + [L["this_method"].format(method=m.short) if m.primary else m.short for m in r.methods]
    _header(ws, n, [*heads, L["unit"]])
    n += 1
    for key, label, _ in r.scope_rows:
        _put(ws, n, 1, label, bold=key.startswith("total"))
        for j, m in enumerate(r.methods):
            _put(ws, n, 2 + j, m.totals[key], T_FORMAT, bold=key.startswith("total"))
        _put(ws, n, 2 + len(r.methods), L["unit_t_co2e"])
        n += 1
    n += 1
    _put(ws, n, 1, L["scope2_note_label"], bold=True)
    _put(ws, n, 2, L["scope2_note"])
    ws.merge_cells(start_row=n, start_column=2, end_row=n, end_column=max(2, 1 + len(r.methods) + 1))
    ws.cell(row=n, column=2).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[n].height = 48
    note_row = n
    n += 2
    if r.production:
        _header(ws, n, [L["product"], L["production_t"]])
        n += 1
        for product, t in r.production:
            _put(ws, n, 1, product)
            _put(ws, n, 2, t, AMOUNT_FORMAT)
            n += 1
    _autosize(ws, skip_rows=(1, note_row))
    ws.column_dimensions["B"].width = max(ws.column_dimensions["B"].width or 0, 30)


def _by_site(ws: Worksheet, r: Report) -> None:
    _scope_table(ws, r, 1, [r.L["site"]], [((s,), v) for s, v in r.by_site])
    ws.freeze_panes = "B2"
    _autosize(ws)


def _by_line(ws: Worksheet, r: Report) -> None:
    _scope_table(ws, r, 1, [r.L["site"], r.L["line"]], [((s, ln), v) for s, ln, v in r.by_line])
    ws.freeze_panes = "C2"
    _autosize(ws)


def _by_month(ws: Worksheet, r: Report) -> None:
    skip: list[int] = []
    n = _scope_table(ws, r, 1, [r.L["month"]], [((k,), v) for k, _, v in r.by_month])
    if r.by_site_month:
        n += 1
        _put(ws, n, 1, r.L["sec_site_month"], bold=True)
        skip.append(n)
        _scope_table(ws, r, n + 1, [r.L["site"], r.L["month"]],
                     [((s, m), v) for s, m, v in r.by_site_month])
    ws.freeze_panes = "B2"
    _autosize(ws, skip_rows=skip)


def _by_category(ws: Worksheet, r: Report) -> None:
    L = r.L
    t_head = L["with_unit"].format(name=L["col_total_location"], unit=L["unit_short"])
    _header(ws, 1, [L["category"], L["category_id"], L["scope"], t_head, L["share"]])
    n = 2
    for c in r.by_category:
        _put(ws, n, 1, c["label"])
        _put(ws, n, 2, c["category"])
        _put(ws, n, 3, c["scope"], "0")
        _put(ws, n, 4, c["t_co2e"], T_FORMAT)
        _put(ws, n, 5, c["share"], SHARE_FORMAT)
        n += 1
    if r.by_category:
        _put(ws, n, 1, L["total_row"], bold=True)
        _put(ws, n, 4, sum(c["t_co2e"] for c in r.by_category), T_FORMAT, bold=True)
        _put(ws, n, 5, sum(c["share"] for c in r.by_category), SHARE_FORMAT, bold=True)
    ws.freeze_panes = "A2"
    _autosize(ws)


def _by_activity(ws: Worksheet, r: Report) -> None:
    L = r.L
    heads = [L["activity_id"], L["activity"], L["category"], L["scope"]]
    heads += [L["with_unit"].format(name=L["this_method"].format(method=m.short) if m.primary else m.short,
                                    unit=L["unit_short"]) for m in r.methods]
    _header(ws, 1, heads)
    n = 2
    others = [m.method for m in r.methods if not m.primary]
    for a in r.by_activity:
        _put(ws, n, 1, a["activity"])
        _put(ws, n, 2, a["label"])
        _put(ws, n, 3, a["category"])
        _put(ws, n, 4, a["scope"], "0")
        _put(ws, n, 5, a["t_co2e"], T_FORMAT)
        for j, m in enumerate(others):
            _put(ws, n, 6 + j, a["other"].get(m), T_FORMAT)
        n += 1
    if r.by_activity:
        _put(ws, n, 1, L["total_row"], bold=True)
        _put(ws, n, 5, sum(a["t_co2e"] or 0.0 for a in r.by_activity), T_FORMAT, bold=True)
        for j, m in enumerate(others):
            _put(ws, n, 6 + j, sum(a["other"].get(m) or 0.0 for a in r.by_activity), T_FORMAT, bold=True)
    ws.freeze_panes = "C2"
    _autosize(ws)


def _by_gas(ws: Worksheet, r: Report) -> None:
    L = r.L
    _header(ws, 1, [L["gas"], L["mass_t"], L["with_unit"].format(name=L["col_total_location"],
                                                                 unit=L["unit_short"]), L["share"], L["note"]])
    n = 2
    for g in r.by_gas:
        _put(ws, n, 1, g["gas"])
        _put(ws, n, 2, g["mass_t"], T_FORMAT)
        _put(ws, n, 3, g["t_co2e"], T_FORMAT)
        _put(ws, n, 4, g["share"], SHARE_FORMAT)
        _put(ws, n, 5, g["note"])
        n += 1
    if r.by_gas:
        _put(ws, n, 1, L["total_row"], bold=True)
        _put(ws, n, 3, sum(g["t_co2e"] for g in r.by_gas), T_FORMAT, bold=True)
    ws.freeze_panes = "A2"
    _autosize(ws)


def _factors(ws: Worksheet, r: Report) -> None:
    L = r.L
    _header(ws, 1, [L["factor_id"], L["factor_set"], L["value"], L["unit"], L["tag"], L["tag_meaning"],
                    L["source"], L["version"]])
    n = 2
    for f in r.factors:
        for j, key in enumerate(("factor_id", "set", "value", "unit", "tag", "tag_meaning", "source", "version")):
            _put(ws, n, 1 + j, f.get(key), FACTOR_FORMAT)
        n += 1
    n += 1
    legend = n
    _put(ws, n, 1, L["tag_legend"], bold=True)
    for tag, meaning in r.tags:
        n += 1
        _put(ws, n, 1, tag, bold=True)
        _put(ws, n, 2, meaning)
    ws.freeze_panes = "B2"
    _autosize(ws, skip_rows=range(legend, n + 1))


def _notes(ws: Worksheet, r: Report) -> None:
    L = r.L
    _title(ws, L["sec_notes"])
    _header(ws, 2, [L["note_no"], L["note"]])
    n = 3
    for i, note in enumerate(r.notes, 1):
        _put(ws, n, 1, i, "0")
        _put(ws, n, 2, note)
        n += 1
    if not r.notes:
        _put(ws, n, 2, L["none"])
        n += 1
    n += 1
    _title(ws, L["sec_unquantified"], n)
    _header(ws, n + 1, [L["activity_id"], L["activity"], L["amount"], L["unit"], L["records"], L["reason"]])
    n += 2
    for u in r.unquantified:
        for j, (key, fmt) in enumerate((("activity", None), ("label", None), ("amount", AMOUNT_FORMAT),
                                        ("unit", None), ("records", "0"), ("reason", None))):
            _put(ws, n, 1 + j, u.get(key), fmt)
        n += 1
    if not r.unquantified:
        _put(ws, n, 1, L["none"])
    _autosize(ws, skip_rows=(1,))


def _provenance(ws: Worksheet, r: Report) -> None:
    L = r.L
    p = r.provenance
    _title(ws, L["sec_provenance"])
    _header(ws, 2, [L["key"], L["value"]])
    rows: list[tuple[str, Any]] = [
        (L["result_id"], r.result_id), (L["status"], r.status),
        (L["software_version"], p.get("software_version")), (L["calculated_at"], p.get("calculated_at")),
        (L["record_count"], p.get("records")), (L["input_sha256"], p.get("input_sha256")),
    ]
    n = 3
    for label, value in rows:
        _put(ws, n, 1, label, bold=True)
        _put(ws, n, 2, value, "0")
        n += 1
    n += 1
    _put(ws, n, 1, L["sec_factor_sets"], bold=True)
    _header(ws, n + 1, [L["factor_set"], L["set_version"]])
    n += 2
    for set_id, version in r.factor_sets:
        _put(ws, n, 1, set_id)
        _put(ws, n, 2, version)
        n += 1
    n += 1
    _put(ws, n, 1, L["sec_batches"], bold=True)
    _header(ws, n + 1, [L["batch_id"], L["file"], L["sha256"]])
    n += 2
    for b in r.batches:
        _put(ws, n, 1, b.get("batch_id"), "0")
        _put(ws, n, 2, b.get("file"))
        _put(ws, n, 3, b.get("sha256"))
        n += 1
    _autosize(ws, skip_rows=(1,))


SHEETS = (
    ("sheet_summary", _summary), ("sheet_site", _by_site), ("sheet_line", _by_line),
    ("sheet_month", _by_month), ("sheet_category", _by_category), ("sheet_activity", _by_activity),
    ("sheet_gas", _by_gas), ("sheet_factors", _factors), ("sheet_notes", _notes),
    ("sheet_provenance", _provenance),
)


def write_workbook(payload: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the inventory workbook of ``payload`` to ``path`` in ``lang``; returns ``path``.

    Parameters
    ----------
    payload
        An inventory payload as returned by :func:`rareeco.inventory.service.inventory`.
    path
        Where to write the ``.xlsx`` file (overwritten).
    lang
        ``"en"`` or ``"zh"`` (any tag starting with ``zh``).

    Returns
    -------
    Path
        ``path``.
    """
    r = build(payload, lang)
    wb = _empty_workbook()
    for key, writer in SHEETS:
        writer(wb.create_sheet(r.L[key]), r)
    wb.properties.title = f"{r.L['workbook_title']} {r.organisation} {r.year}"
    wb.properties.creator = "rareeco"
    wb.properties.language = "zh-CN" if r.lang == "zh" else "en"
    path = Path(path)
    wb.save(path)
    return path
