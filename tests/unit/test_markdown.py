"""The message Markdown subset never lets markup through."""

from __future__ import annotations

import pytest

from parlour.features.chat.markdown import render


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("**bold** and *it* and _it_", "<strong>bold</strong> and <em>it</em> and <em>it</em>"),
        ("~~gone~~", "<del>gone</del>"),
        ("use `a*b*c`", "use <code>a*b*c</code>"),
        ("two\nlines", "two<br>lines"),
        ("snake_case_name stays", "snake_case_name stays"),
    ],
)
def test_marks_become_tags(text: str, html: str) -> None:
    assert render(text) == html


def test_markup_is_shown_as_text() -> None:
    out = render("<img src=x onerror=alert(1)>")
    assert "<img" not in out and out == "&lt;img src=x onerror=alert(1)&gt;"


def test_links_are_http_only_and_escaped() -> None:
    out = render('see https://example.org/a?b=1&c="x" now.')
    assert out.startswith('see <a href="https://example.org/a?b=1&amp;c=')
    assert "javascript:" not in render("javascript:alert(1)") or "<a" not in render(
        "javascript:alert(1)"
    )
    assert render("https://example.org).").endswith("</a>).")
