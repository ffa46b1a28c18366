"""The docs that describe code must not drift from it: error codes, settings, promise ids."""

from __future__ import annotations

from pathlib import Path

from parlour.core.errors import _DEFAULT_STATUS, ErrorCode
from parlour.settings import Settings
from tests.support import promises
from tests.support.services import missing

REPO = Path(__file__).resolve().parents[2]


def table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell, backticks stripped."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_every_error_code_is_documented_with_its_status() -> None:
    rows = table_rows((REPO / "docs" / "errors.md").read_text(encoding="utf-8"))
    missing = [code.value for code in ErrorCode if code.value not in rows]
    assert not missing, f"docs/errors.md lacks these error codes: {missing}"
    wrong = {
        code.value: rows[code.value][0]
        for code in ErrorCode
        if rows[code.value][0] != str(_DEFAULT_STATUS[code])
    }
    assert not wrong, f"docs/errors.md gives the wrong HTTP status for: {wrong}"
    stale = [c for c, cells in rows.items() if cells[0].isdigit() and c not in set(ErrorCode)]
    assert not stale, f"docs/errors.md documents codes that no longer exist: {stale}"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    rows = table_rows((REPO / "README.md").read_text(encoding="utf-8"))
    documented = {name for name in rows if name.startswith("PARLOUR_")}
    fields = {f"PARLOUR_{name.upper()}" for name in Settings.model_fields}
    assert not fields - documented, f"README.md lacks these settings: {sorted(fields - documented)}"
    assert not documented - fields, f"README.md lists unknown settings: {documented - fields}"


def test_the_committed_promise_ids_match_the_promise_document() -> None:
    if not promises.PROMISES_MD.is_file():
        missing("the promise document ../shared/PROMISES.md", "it is not beside the repository")
    document = promises.TABLE_ROW.findall(promises.PROMISES_MD.read_text(encoding="utf-8"))
    copy = promises.PLAIN_ID.findall(promises.PROMISES_TXT.read_text(encoding="utf-8"))
    assert copy == document, "docs/promises.txt is out of date: regenerate it from PROMISES.md"
