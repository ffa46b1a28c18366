"""A small, safe Markdown subset: everything is escaped first, then a few marks become tags."""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`\n]{1,500})`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LINK = re.compile(r"\bhttps?://[^\s<>\"']{1,2000}")
_SLOT = "\x00{}\x00"


def render(text: str) -> str:
    """HTML for a message: bold, italic, strike-through, inline code, links and line breaks."""
    escaped = html.escape(text, quote=True)
    codes: list[str] = []

    def keep_code(match: re.Match[str]) -> str:
        codes.append(f"<code>{match.group(1)}</code>")
        return _SLOT.format(len(codes) - 1)

    out = _CODE.sub(keep_code, escaped)
    out = _LINK.sub(_link, out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    out = _ITALIC.sub(r"<em>\1</em>", out)
    out = _STRIKE.sub(r"<del>\1</del>", out)
    for i, code in enumerate(codes):
        out = out.replace(_SLOT.format(i), code)
    return out.replace("\n", "<br>")


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    trail = ""
    while url and url[-1] in ".,;:!?)":
        url, trail = url[:-1], url[-1] + trail
    return f'<a href="{url}" rel="noopener noreferrer nofollow" target="_blank">{url}</a>{trail}'
