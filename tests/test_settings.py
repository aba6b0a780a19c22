"""Settings are declared in one list and documented (DESIGN.md style 10)."""

import re
from pathlib import Path

from rareeco.settings import BY_NAME, markdown

ROOT = Path(__file__).parents[1]


def test_settings_page_is_current() -> None:
    assert (ROOT / "docs" / "settings.md").read_text("utf-8") == markdown(), \
        "regenerate: python -m rareeco.settings > docs/settings.md"


def test_code_reads_no_undeclared_setting() -> None:
    used = set()
    for path in list((ROOT / "src").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")):
        used |= set(re.findall(r"RAREECO_[A-Z0-9_]+", path.read_text("utf-8")))
    assert used - set(BY_NAME) == set()
    assert set(BY_NAME) - used == set(), "declared but never read"
