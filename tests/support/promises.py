"""A pytest plugin: which promises of PROMISES.md hold, which fail, and which have no test yet.

Tests name the promise they prove with ``@pytest.mark.promise("P-ACC-1")``. The known ids come
from ``PROMISES.md`` in the ``shared/`` folder beside the repository, or from the copy in
``docs/promises.txt`` when that folder is absent. A marker naming an unknown id stops the run:
a typo must not count as a kept promise.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMISES_MD = REPO.parent / "shared" / "PROMISES.md"
PROMISES_TXT = REPO / "docs" / "promises.txt"
TABLE_ROW = re.compile(r"^\|\s*(P-[A-Z]+-\d+)\s*\|", re.MULTILINE)
PLAIN_ID = re.compile(r"^(P-[A-Z]+-\d+)\b", re.MULTILINE)


def known_ids() -> list[str]:
    """The promise ids in document order."""
    if PROMISES_MD.is_file():
        return TABLE_ROW.findall(PROMISES_MD.read_text(encoding="utf-8"))
    return PLAIN_ID.findall(PROMISES_TXT.read_text(encoding="utf-8"))


@dataclass
class Ledger:
    known: list[str]
    ids_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outcome: dict[str, str] = field(default_factory=dict)

    def record(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.ids_of:
            return
        if report.failed:
            self.outcome[report.nodeid] = "failed"
        elif report.skipped and self.outcome.get(report.nodeid) != "failed":
            self.outcome[report.nodeid] = "skipped"
        elif report.when == "call" and report.nodeid not in self.outcome:
            self.outcome[report.nodeid] = "passed"

    def tally(self) -> dict[str, dict[str, list[str]]]:
        """For each promise id: the node ids of its passed, failed and skipped tests."""
        table: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for nodeid, result in self.outcome.items():
            for promise in self.ids_of[nodeid]:
                table[promise][result].append(nodeid)
        return table


def marker_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for marker in item.iter_markers("promise"):
        if not marker.args or not all(isinstance(a, str) for a in marker.args):
            raise pytest.UsageError(f"{item.nodeid}: promise() needs one or more id strings")
        ids.extend(marker.args)
    return tuple(ids)


class PromisePlugin:
    """Registered once per run; its hooks see every test and print the summary."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        known = set(self.ledger.known)
        unknown: list[str] = []
        for item in items:
            ids = marker_ids(item)
            unknown.extend(f"{item.nodeid}: {i}" for i in ids if i not in known)
            if ids:
                self.ledger.ids_of[item.nodeid] = ids
        if unknown:
            listed = "\n  ".join(unknown)
            raise pytest.UsageError(f"promise markers name unknown promise ids:\n  {listed}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ledger.record(report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.ledger.ids_of:
            summarise(self.ledger, terminalreporter)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(PromisePlugin(Ledger(known_ids())), "parlour-promises")


def summarise(ledger: Ledger, reporter: pytest.TerminalReporter) -> None:
    tally = ledger.tally()
    write = reporter.write_line
    reporter.write_sep("=", "promise summary")
    write("passing tests per promise:")
    for area, ids in _areas(ledger.known).items():
        write(f"  {area:<7}" + "  ".join(f"{i} {len(tally[i]['passed'])}" for i in ids))
    for promise in ledger.known:
        if tally[promise]["failed"]:
            write(f"FAILING {promise}: " + ", ".join(tally[promise]["failed"]), red=True)
    skipped = [f"{i} ({len(tally[i]['skipped'])})" for i in ledger.known if tally[i]["skipped"]]
    if skipped:
        write("with skipped tests: " + " ".join(skipped))
    unproven = [i for i in ledger.known if not tally[i]["passed"]]
    write(f"no passing test ({len(unproven)} of {len(ledger.known)}): " + " ".join(unproven))


def _areas(ids: list[str]) -> dict[str, list[str]]:
    areas: dict[str, list[str]] = defaultdict(list)
    for promise in ids:
        areas[promise.split("-")[1]].append(promise)
    return areas
