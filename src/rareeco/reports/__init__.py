"""Organisational GHG inventory reports: an Excel workbook and an A4 PDF, in English or Chinese.

Both take the payload of :func:`rareeco.inventory.service.inventory` (or a stored result's
payload) and write a file::

    from rareeco import reports
    reports.inventory_xlsx(payload, Path("inventory-2025.xlsx"), lang="zh")
    reports.inventory_pdf(payload, Path("inventory-2025.pdf"), lang="en")

Every user-facing string is in :mod:`rareeco.reports.labels`, in both languages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["inventory_pdf", "inventory_xlsx"]


def inventory_xlsx(payload: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the inventory workbook; see :func:`rareeco.reports.xlsx.write_workbook`."""
    from rareeco.reports.xlsx import write_workbook  # imported late: openpyxl only when needed

    return write_workbook(payload, Path(path), lang)


def inventory_pdf(payload: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the inventory report as an A4 PDF; see :func:`rareeco.reports.pdf.write_pdf`."""
    from rareeco.reports.pdf import write_pdf  # imported late: WeasyPrint takes a second to import

    return write_pdf(payload, Path(path), lang)
