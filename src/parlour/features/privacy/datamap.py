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
            return {"table": self.table, "column": self.column, "personal": False, "reason": d.reason}
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
    for table, columns in sorted(live.items()):
        if table in FOREIGN_TABLES:
            continue
        if table not in metadata.tables:
            found.append(f"table {table} exists in the database but no model declares it")
            continue
        for column in columns:
            if (table, column) not in declared:
                found.append(f"column {table}.{column} does not declare whether it is personal")
    for table in metadata.tables.values():
        has_personal = any(declared.get((table.name, c.name), None) and declared[(table.name, c.name)].personal for c in table.columns)
        subject = subject_of(table)
        if has_personal and subject is None:
            found.append(f"table {table.name} holds personal data but names no subject column")
        if subject is not None and subject.ref not in table.columns:
            found.append(f"table {table.name} names subject column {subject.ref}, which it lacks")
    return found
