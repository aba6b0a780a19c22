"""Activity-data templates (CSV and Excel) that the importer reads back unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

from rareeco.ingest.activity import COLUMNS, OPTIONAL
from rareeco.reference.catalogue import activities

# in the order of COLUMNS: required columns, then line, product, meter, supplier, evidence, note
EXAMPLE_ROWS = [
    ["baotou", "2025-01-01", "2025-01-31", "electricity.grid", "1250000", "kWh", "separation", "", "EM-01",
     "State Grid", "invoice 2025-01", ""],
    ["baotou", "2025-01-01", "2025-01-31", "fuel.natural_gas", "18.5", "万Nm3", "separation", "", "",
     "city gas", "invoice 2025-01", ""],
    ["baotou", "2025-01-01", "2025-01-31", "production.output", "62.4", "t", "separation", "prnd-oxide", "",
     "", "production report 2025-01", ""],
]

HELP = [
    ("column / 列", "required / 必填", "meaning / 含义"),
    ("site", "yes / 是", "site id, e.g. baotou / 场址编号"),
    ("period_start", "yes / 是", "first day, YYYY-MM-DD / 起始日期"),
    ("period_end", "yes / 是", "last day included, YYYY-MM-DD / 截止日期（含当日）"),
    ("activity", "yes / 是", "activity id from the 'activities' sheet / 活动编号，见 activities 工作表"),
    ("amount", "yes / 是", "number ≥ 0, '.' as decimal point / 数量（非负数）"),
    ("unit", "yes / 是", "e.g. kWh, MWh, GJ, t, kg, Nm3, 万Nm3, t·km / 单位"),
    ("line", "no / 否", "production line id / 产线编号"),
    ("product", "no / 否", "product id (required for production.output) / 产品编号（产量必填）"),
    ("meter", "no / 否", "meter id / 计量表编号"),
    ("supplier", "no / 否", "supplier / 供应商"),
    ("evidence", "no / 否", "invoice or record number / 凭证编号"),
    ("note", "no / 否", "free text / 备注"),
]


def write_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(EXAMPLE_ROWS)
    return path


def write_xlsx(path: Path) -> Path:
    """Workbook with the 'activity' sheet (header, examples, a drop-down of activity ids),
    the 'activities' catalogue and a bilingual help sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "activity"
    ws.append(list(COLUMNS))
    for r in EXAMPLE_ROWS:
        ws.append(r)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    cat = wb.create_sheet("activities")
    cat.append(["activity", "unit", "scope", "label_en", "label_zh", "note"])
    for a in activities().values():
        cat.append([a.activity, a.unit, a.scope, a.label_en, a.label_zh, a.note])
    n = len(activities()) + 1
    dv = DataValidation(type="list", formula1=f"=activities!$A$2:$A${n}", allow_blank=False,
                        showErrorMessage=True, error="Choose an activity id from the 'activities' sheet")
    ws.add_data_validation(dv)
    dv.add(f"D2:D{10000}")
    help_ws = wb.create_sheet("help")
    for h in HELP:
        help_ws.append(list(h))
    help_ws.append([])
    help_ws.append([f"Optional columns / 可选列: {', '.join(OPTIONAL)}"])
    help_ws.append(["Import / 导入: rareeco import FILE --org ORG"])
    wb.save(path)
    return path
