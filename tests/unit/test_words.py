"""Counted words: '1 minute', '2 minutes'; no 'minute(s)' anywhere in what people read."""

from __future__ import annotations

import re
from pathlib import Path

from parlour.core.words import plural
from parlour.web.pages import templates

SOURCE = Path(__file__).resolve().parents[2] / "src" / "parlour"
# A word with "(s)" glued on, as in "job(s)"; "http(s)" and a call like `x.refresh(s)` are not.
HEDGED = re.compile(r"(?<![.\w])(?!https?\()[A-Za-z]{3,}\(s\)")


def test_plural_says_one_and_many_properly() -> None:
    assert plural(1, "minute") == "1 minute"
    assert plural(2, "minute") == "2 minutes"
    assert plural(0, "day") == "0 days"
    assert plural(3, "person", "people") == "3 people"
    assert plural(1, "active session") == "1 active session"


def test_the_template_filter_counts_words() -> None:
    page = templates.from_string('{{ 1 | plural("day") }}; {{ n | plural("hour") }}')
    assert page.render(n=24) == "1 day; 24 hours"


def test_no_text_hedges_a_plural_with_parenthesised_s() -> None:
    found = [
        f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
        for path in SOURCE.rglob("*")
        if path.suffix in (".py", ".html", ".js") and "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HEDGED.search(line)
    ]
    assert found == []
