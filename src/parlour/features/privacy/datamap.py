"""Reads the data map out of the models: one entry per column, personal or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table

from parlour.core.datamap import (
    DATAMAP_KEY,
    PURPOSES,
    SUBJECT_KEY,
    NotPersonal,
    Personal,
    Subject,
)

# Tables that are not ours but live in our database.
FOREIGN_TABLES = {"alembic_version": "the schema version, kept by the migration tool"}

# Tables derived from a declared column, with its category, retention and erasure; SQLite's
# full-text index keeps its data in shadow tables that share the index's name as a prefix.
DERIVED_TABLES = {
    "messages_fts": "messages.body",
}


def derived_from(table: str) -> str | None:
    for prefix, source in DERIVED_TABLES.items():
        if table == prefix or table.startswith(prefix + "_"):
            return source
    return None


@dataclass(frozen=True)
class Entry:
    table: str
    column: str
    declaration: Personal | NotPersonal

    @property
    def personal(self) -> bool:
        return isinstance(self.declaration, Personal)

    def as_dict(self) -> dict[str, Any]:
        d = self.declaration
        if isinstance(d, NotPersonal):
            return {
                "table": self.table,
                "column": self.column,
                "personal": False,
                "reason": d.reason,
            }
        return {
            "table": self.table,
            "column": self.column,
            "personal": True,
            "category": d.category,
            "subject": d.subject,
            "purposes": [
                {"key": p, "name": PURPOSES[p].name, "legal_basis": PURPOSES[p].basis.value}
                for p in d.purposes
            ],
            "retention": d.retention.describe(),
            "erasure": d.erasure.value,
            "exported": d.exported,
            "description": d.description,
        }


def subject_of(table: Table) -> Subject | None:
    subject = table.info.get(SUBJECT_KEY)
    return subject if isinstance(subject, Subject) else None


def entries(metadata: MetaData) -> list[Entry]:
    out: list[Entry] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for column in table.columns:
            declaration = column.info.get(DATAMAP_KEY)
            if isinstance(declaration, Personal | NotPersonal):
                out.append(Entry(table.name, column.name, declaration))
    return out


def problems(metadata: MetaData, live: dict[str, list[str]]) -> list[str]:
    """Every way the live schema and the declarations disagree, as readable sentences."""
    declared = {(e.table, e.column): e for e in entries(metadata)}
    found: list[str] = []
    for name, columns in sorted(live.items()):
        if name in FOREIGN_TABLES or derived_from(name) is not None:
            continue
        if name not in metadata.tables:
            found.append(f"table {name} exists in the database but no model declares it")
            continue
        found.extend(
            f"column {name}.{column} does not declare whether it is personal"
            for column in columns
            if (name, column) not in declared
        )
    for table in metadata.tables.values():
        found.extend(_subject_problems(table, declared))
    return found


def _subject_problems(table: Table, declared: dict[tuple[str, str], Entry]) -> list[str]:
    personal = [
        c.name for c in table.columns if (e := declared.get((table.name, c.name))) and e.personal
    ]
    subject = subject_of(table)
    if personal and subject is None:
        return [f"table {table.name} holds personal data but names no subject column"]
    if subject is not None and subject.ref not in table.columns:
        return [f"table {table.name} names subject column {subject.ref}, which it lacks"]
    return []
