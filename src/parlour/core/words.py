"""Counted words in plain English: '1 minute', '2 minutes', never a hedged plural."""

from __future__ import annotations


def plural(count: int, singular: str, many: str | None = None) -> str:
    """'1 day', '3 days', '0 days'; give `many` for a word that is not made with an 's'."""
    word = singular if count == 1 else (many or singular + "s")
    return f"{count} {word}"
