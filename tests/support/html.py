"""Reads the parts of a rendered page that tests check: fields, labels, links and the CSRF token."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Parsed:
    fields: list[dict[str, str]] = field(default_factory=list)  # input, select, textarea
    label_for: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    alerts: int = 0
    csrf: str = ""
    forms: list[dict[str, str]] = field(default_factory=list)

    def field(self, name: str) -> dict[str, str]:
        found = [f for f in self.fields if f.get("name") == name]
        assert found, f"no field named {name}"
        return found[0]

    def hidden_values(self, action: str) -> dict[str, str]:
        """The hidden fields a browser would send with the form posting to `action`."""
        return {
            f["name"]: f.get("value", "")
            for f in self.fields
            if f.get("form") == action and f.get("type") == "hidden" and "name" in f
        }

    def unlabelled(self) -> list[dict[str, str]]:
        """Fields without a label (by `for`, by wrapping, or by aria-label/labelledby)."""
        return [
            f
            for f in self.visible_fields()
            if f.get("id", "") not in self.label_for
            and not ({"wrapped-in-label", "aria-label", "aria-labelledby"} & f.keys())
        ]

    def visible_fields(self) -> list[dict[str, str]]:
        return [f for f in self.fields if f.get("type") != "hidden" and "hidden" not in f]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Parsed()
        self.action = ""
        self.in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v if v is not None else "" for k, v in attrs}
        if tag in ("input", "select", "textarea"):
            labelled = {"wrapped-in-label": "1"} if self.in_label else {}
            self.page.fields.append({"tag": tag, "form": self.action, **labelled, **a})
        elif tag == "label":
            self.in_label += 1
            if "for" in a:
                self.page.label_for.add(a["for"])
        elif tag == "a" and "href" in a:
            self.page.links.append(a["href"])
        elif tag == "meta" and a.get("name") == "csrf-token":
            self.page.csrf = a.get("content", "")
        elif tag == "form":
            self.page.forms.append(a)
            self.action = a.get("action", "")
        if a.get("role") == "alert":
            self.page.alerts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.action = ""
        elif tag == "label":
            self.in_label = max(0, self.in_label - 1)


def parse_html(text: str) -> Parsed:
    reader = _Reader()
    reader.feed(text)
    return reader.page
