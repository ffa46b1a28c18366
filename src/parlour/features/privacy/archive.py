"""Writes a person's export as a ZIP, entry by entry, reading rows in keyset batches.

Memory stays flat whatever the size of the account: rows are fetched a batch at a time in
primary-key order, each batch is encoded and written to the open ZIP entry at once, and the
readable summary grows in a temporary file beside it. Nothing holds all rows.
"""

from __future__ import annotations

import asyncio
import html
import json
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Column, MetaData, Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.datamap import PURPOSES, Personal
from parlour.features.privacy.walker import Identity, Selection, declaration, selections
from parlour.storage.blobs import BlobStore

BATCH = 1000
FORMAT = "parlour-export/1"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
RELATIONS = {
    "own": "yours: about you, or made by you",
    "shared": "part of a conversation you are in, written by someone else",
    "about": "provided by someone else about you",
}
SOURCES = {
    "own": "you, or the service while you used it",
    "shared": "other people in your conversations",
    "about": "other users, about you",
}
# Who receives data kept for a purpose, besides you and the operator running this service.
RECIPIENTS = {
    "provide_service": "the people you communicate with, as far as they take part",
    "organisation_admin": "your organisation's administrators",
    "account_security": "nobody beyond the operator's security checks",
    "legal_compliance": "authorities, only on a lawful request",
}
OTHERS_RULE = (
    "Rows that are yours are exported with every personal column. Rows written by someone else "
    "appear only when they are part of a conversation you are in, or are about you (a contact "
    "entry naming you), and then only with the columns the data map declares as shared with "
    "you: message text, reactions, timestamps and opaque ids, never their email, name, phone "
    "or other profile fields."
)


def file_of(table: Table) -> str:
    return f"data/{table.name}.json"


def schema_path(table: Table) -> str:
    return f"schemas/{table.name}.json"


def exportable(metadata: MetaData) -> list[Table]:
    """Tables that can hold a person's exported data, from the declarations alone."""
    probe = Identity("probe", "probe@example.invalid")
    names = {s.table.name for s in selections(metadata, probe)}
    return [t for t in sorted(metadata.tables.values(), key=lambda t: t.name) if t.name in names]


def _json_type(column: Column[Any]) -> dict[str, Any]:
    try:
        python = column.type.python_type
    except NotImplementedError:
        python = str
    if issubclass(python, bool):
        found: dict[str, Any] = {"type": "boolean"}
    elif issubclass(python, int):
        found = {"type": "integer"}
    elif issubclass(python, float):
        found = {"type": "number"}
    elif issubclass(python, datetime):
        found = {"type": "string", "format": "date-time"}
    else:
        found = {"type": "string"}
    if column.nullable:
        found["type"] = [found["type"], "null"]
    return found


def _column_schema(column: Column[Any], decl: Personal) -> dict[str, Any]:
    return {
        **_json_type(column),
        "description": decl.description or decl.category,
        "x-category": decl.category,
        "x-purposes": list(decl.purposes),
        "x-legal-bases": sorted({PURPOSES[p].basis.value for p in decl.purposes}),
        "x-retention": decl.retention.describe(),
        "x-erasure": decl.erasure.value,
        "x-shared-with-others": decl.shared,
    }


def table_schema(table: Table, base_url: str) -> dict[str, Any]:
    """The JSON Schema of one export file, published at /api/v1/export/schemas/{table}.json."""
    columns = {
        c.name: _column_schema(c, d)
        for c in table.columns
        if (d := declaration(c)) is not None and d.exported
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{base_url}/api/v1/export/schemas/{table.name}.json",
        "title": f"Parlour export: {table.name}",
        "description": "One object per row. " + OTHERS_RULE,
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "relation": {
                    "enum": list(RELATIONS),
                    "description": "; ".join(f"{k}: {v}" for k, v in RELATIONS.items()),
                },
                **columns,
            },
            "required": ["relation"],
            "additionalProperties": False,
        },
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass
class Tally:
    rows: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    media: list[tuple[str, str]] = field(default_factory=list)  # (zip path, data map column)
    categories: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


class Writer:
    """The ZIP file and the summary under construction; every write is a short blocking call
    run in a thread, so the event loop keeps serving while an export is built."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=folder, suffix=".zip", delete=False)  # noqa: SIM115
        handle.close()
        self.path = Path(handle.name)
        self.zip = zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self.summary = tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder)  # noqa: SIM115
        self.entry: IO[bytes] | None = None

    async def call(self, work: Callable[[], object]) -> None:
        await asyncio.to_thread(work)

    def open(self, name: str) -> None:
        self.entry = self.zip.open(name, "w", force_zip64=True)

    def write(self, text: str) -> None:
        assert self.entry is not None  # noqa: S101 - an entry is always open here
        self.entry.write(text.encode())

    def write_bytes(self, data: bytes) -> None:
        assert self.entry is not None  # noqa: S101 - an entry is always open here
        self.entry.write(data)

    def close_entry(self) -> None:
        if self.entry is not None:
            self.entry.close()
            self.entry = None

    def add_json(self, name: str, value: Any) -> None:
        self.zip.writestr(name, json.dumps(value, indent=2, ensure_ascii=False))

    def discard(self) -> None:
        self.close_entry()
        self.zip.close()
        self.summary.close()
        self.path.unlink(missing_ok=True)


async def _batches(
    session: AsyncSession, selection: Selection
) -> Any:  # an async iterator of row batches
    table = selection.table
    key = list(table.primary_key.columns)
    wanted = [*key, *[c for c in selection.columns if c not in key]]
    last: Sequence[Any] | None = None
    while True:
        query = select(*wanted).where(selection.where)
        if last is not None:
            query = query.where(_after(key, last))
        rows = (await session.execute(query.order_by(*key).limit(BATCH))).all()
        if not rows:
            return
        yield rows
        last = rows[-1][: len(key)]
        if len(rows) < BATCH:
            return


def _after(key: list[Column[Any]], last: Sequence[Any]) -> ColumnElement[bool]:
    after: ColumnElement[bool] = key[0] > last[0] if len(key) == 1 else tuple_(*key) > tuple_(*last)
    return after


async def write_table(
    session: AsyncSession,
    writer: Writer,
    table: Table,
    chosen: list[Selection],
    tally: Tally,
) -> list[str]:
    """One JSON file for the table; returns the blob keys that own rows point at."""
    blob_keys: list[str] = []
    await writer.call(lambda: writer.open(file_of(table)))
    await writer.call(lambda: writer.write("["))
    first = True
    for selection in chosen:
        count = 0
        names = [c.name for c in selection.columns]
        blobs = [c.name for c in selection.columns if (d := declaration(c)) and d.blob]
        await writer.call(lambda s=selection: _summary_open(writer, s))  # type: ignore[misc]
        async for rows in _batches(session, selection):
            records = [{"relation": selection.relation} for _ in rows]
            for record, row in zip(records, rows, strict=True):
                mapping = row._mapping
                record.update({n: _plain(mapping[n]) for n in names})
                blob_keys.extend(
                    mapping[b] for b in blobs if mapping[b] and selection.relation == "own"
                )
            text = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
            prefix = "\n" if first else ",\n"
            first = False
            await writer.call(lambda t=prefix + text: writer.write(t))  # type: ignore[misc]
            await writer.call(lambda r=records, s=selection: _summary_rows(writer, s, r))  # type: ignore[misc]
            count += len(rows)
        await writer.call(lambda: writer.summary.write("</table>\n"))
        tally.rows[table.name][selection.relation] = count
        for column in selection.columns:
            decl = declaration(column)
            if decl is not None and count:
                tally.categories[decl.category].add(f"{table.name}.{column.name}")
    await writer.call(lambda: writer.write("\n]\n"))
    await writer.call(writer.close_entry)
    return blob_keys


def _summary_open(writer: Writer, selection: Selection) -> None:
    title = f"{selection.table.name}: {RELATIONS[selection.relation]}"
    heads = "".join(f"<th>{html.escape(c.name)}</th>" for c in selection.columns)
    writer.summary.write(f"<h2>{html.escape(title)}</h2>\n<table><tr>{heads}</tr>\n")


def _summary_rows(writer: Writer, selection: Selection, records: list[dict[str, Any]]) -> None:
    out = writer.summary
    for record in records:
        cells = "".join(
            f"<td>{html.escape(str(record.get(c.name, '')))}</td>" for c in selection.columns
        )
        out.write(f"<tr class='{selection.relation}'>{cells}</tr>\n")


async def add_media(writer: Writer, blobs: BlobStore, key: str, column: str, tally: Tally) -> None:
    """Copies one blob into media/, chunk by chunk."""
    path = f"media/{key}"
    try:
        chunks = blobs.chunks(key)
        await writer.call(lambda: writer.open(path))
        async for chunk in chunks:
            await writer.call(lambda c=chunk: writer.write_bytes(c))  # type: ignore[misc]
        await writer.call(writer.close_entry)
    except FileNotFoundError:
        await writer.call(writer.close_entry)
        return
    tally.media.append((path, column))


def copy_summary(writer: Writer, head: str, tail: str) -> None:
    writer.summary.seek(0)
    with writer.zip.open("summary.html", "w", force_zip64=True) as entry:
        entry.write(head.encode())
        while chunk := writer.summary.read(256 * 1024):
            entry.write(chunk.encode())
        entry.write(tail.encode())
    writer.summary.close()


def finish(writer: Writer) -> Path:
    writer.close_entry()
    writer.zip.close()
    return writer.path
