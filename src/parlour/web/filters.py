"""Template filters for pages: dates in UTC, counted words, links in plain text made clickable."""

from __future__ import annotations

import re
from datetime import datetime

from jinja2 import Environment
from markupsafe import Markup, escape

from parlour.core.clock import as_utc
from parlour.core.words import plural

_URL = re.compile(r"https?://[^\s<>\"']+")


def when(value: datetime | None) -> str:
    """'2026-11-25 12:40 UTC': unambiguous for every reader, whatever their time zone."""
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def linkify(value: str) -> Markup:
    """Escapes the text, then turns each http(s) address in it into a link."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(value):
        out.append(str(escape(value[last : match.start()])))
        url = escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(str(escape(value[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


def install(env: Environment) -> None:
    env.filters["when"] = when
    env.filters["linkify"] = linkify
    env.filters["plural"] = plural  # {{ n | plural("day") }} -> "1 day", "3 days"
