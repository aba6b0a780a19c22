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
    """Write the inventory workbook (summary, breakdowns, factors, notes, provenance).

    Parameters
    ----------
    payload
        An inventory payload as returned by :func:`rareeco.inventory.service.inventory`.
    path
        The ``.xlsx`` file to write (overwritten).
    lang
        ``"en"`` or ``"zh"``; any value starting with ``zh`` gives Chinese.

    Returns
    -------
    Path
        ``path``.
    """
    from rareeco.reports.xlsx import write_workbook

    return write_workbook(payload, Path(path), lang)


def inventory_pdf(payload: dict[str, Any], path: Path, lang: str = "en") -> Path:
    """Write the inventory report as an A4 PDF (WeasyPrint; nothing is loaded from the internet).

    Parameters
    ----------
    payload
        An inventory payload as returned by :func:`rareeco.inventory.service.inventory`.
    path
        The ``.pdf`` file to write (overwritten).
    lang
        ``"en"`` or ``"zh"``; any value starting with ``zh`` gives Chinese.

    Returns
    -------
    Path
        ``path``.
    """
    from rareeco.reports.pdf import write_pdf

    return write_pdf(payload, Path(path), lang)
