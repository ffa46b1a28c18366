"""Reads the timed retention periods out of the data map, and says which cannot be enforced.

A table's personal columns each declare a ``Retention``. Every distinct timed one (``days``
given) in a table is a *period*: it governs the rows in which one of its columns holds a value,
and those rows expire ``days`` after the moment its ``column`` names. Periods are listed
children first (in reverse foreign-key order), so a call's legs go before the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, MetaData, Table, and_, exists, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.datamap import Purge, Retention
from parlour.features.privacy.datamap import DERIVED_TABLES, subject_of
from parlour.features.privacy.walker import (
    EMAIL,
    Identity,
    declaration,
    personal_columns,
    references,
)


@dataclass(frozen=True)
class Period:
    """One table's timed retention: which columns it covers and what the purge does."""

    table: Table
    retention: Retention
    columns: tuple[Column[object], ...]

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> Column[object]:
        return next(iter(self.table.primary_key.columns))

    @property
    def days(self) -> int:
        return self.retention.days or 0

    def anchor_text(self) -> str:
        return ", ".join(self.retention.anchors)

    def expired(self, cutoff: datetime) -> ColumnElement[bool]:
        """Rows whose clock started before ``cutoff``; an anchor not yet set never expires."""
        names = self.retention.anchors
        if len(names) == 1 and "." in names[0]:
            local, remote = names[0].split(".", 1)
            target = next(iter(self.table.c[local].foreign_keys)).column
            parent = target.table
            return self.table.c[local].in_(select(target).where(parent.c[remote] < cutoff))
        columns = [self.table.c[n] for n in names]
        value = columns[0] if len(columns) == 1 else func.coalesce(*columns)
        return value < cutoff

    def governed(self) -> ColumnElement[bool]:
        """A row holds data under this period when one of its columns holds a value."""
        return or_(*(c.is_not(None) for c in self.columns))


def timed_declarations(table: Table) -> dict[Retention, list[Column[object]]]:
    found: dict[Retention, list[Column[object]]] = {}
    for column, decl in personal_columns(table):
        if decl.retention.timed:
            found.setdefault(decl.retention, []).append(column)
    return found


def periods(metadata: MetaData) -> list[Period]:
    """Every period the retention job enforces, children before parents."""
    out: list[Period] = []
    for table in reversed(metadata.sorted_tables):
        for retention, columns in timed_declarations(table).items():
            if retention.elsewhere is None and not _period_problems(table, retention, columns):
                out.append(Period(table, retention, tuple(columns)))
    return out


def unenforced(metadata: MetaData) -> list[str]:
    """Every timed period the job cannot act on and nothing else claims, as sentences."""
    found: list[str] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for retention, columns in timed_declarations(table).items():
            if retention.elsewhere is None:
                found.extend(_period_problems(table, retention, columns))
    return found


def _period_problems(
    table: Table, retention: Retention, columns: list[Column[object]]
) -> list[str]:
    where = f"{table.name} ({retention.describe()})"
    if not retention.anchors:
        return [f"{where}: the period names no column its clock starts from"]
    missing = [n for n in retention.anchors if not _resolves(table, n)]
    if missing:
        return [f"{where}: anchor {', '.join(missing)} is not a column or foreign-key path"]
    if len(table.primary_key.columns) != 1:
        return [f"{where}: the purge needs a one-column primary key"]
    if retention.purge == Purge.CLEAR and any(not c.nullable for c in columns):
        return [f"{where}: a period that clears values may only cover nullable columns"]
    if retention.purge == Purge.DELETE and any(declaration(c).blob for c in columns):  # type: ignore[union-attr]
        return [f"{where}: rows with blobs need an expiry that deletes the blobs too"]
    if any(source.split(".")[0] == table.name for source in DERIVED_TABLES.values()):
        return [f"{where}: rows indexed elsewhere need an expiry that unindexes them too"]
    return []


def _resolves(table: Table, name: str) -> bool:
    if "." not in name:
        return name in table.c
    local, remote = name.split(".", 1)
    if local not in table.c or not table.c[local].foreign_keys or "." in remote:
        return False
    target = next(iter(table.c[local].foreign_keys)).column
    return remote in target.table.c


def held_where(table: Table, held: list[Identity]) -> ColumnElement[bool]:
    """Rows about someone under a legal hold: their subject, or a person a column names."""
    if not held:
        return false()
    ids = [h.user_id for h in held]
    emails = [h.email.lower() for h in held if h.email]
    parts: list[ColumnElement[bool]] = []
    subject = subject_of(table)
    if subject is not None:
        ref = table.c[subject.ref]
        decl = declaration(ref)
        if subject.kind == "user":
            parts.append(and_(ref.is_not(None), ref.in_(ids)))
        elif decl is not None and decl.category == EMAIL and emails:
            parts.append(and_(ref.is_not(None), func.lower(ref).in_(emails)))
    parts.extend(and_(c.is_not(None), c.in_(ids)) for c, _ in references(table))
    return or_(*parts) if parts else false()


def children_remain(period: Period, purged: list[Period]) -> ColumnElement[bool]:
    """Rows another purged table still points at: kept until those go first (held ones,
    or any a longer period keeps), so a cascade never removes what the purge spared."""
    children = {p.table for p in purged if p.table is not period.table}
    guards = [
        exists().where(column == period.key)
        for child in children
        for column in child.columns
        if any(fk.column is period.key for fk in column.foreign_keys)
    ]
    return or_(*guards) if guards else false()
