"""Applies each column's declared erasure rule to one person's data, in one transaction.

The rows come from the data map walker; the rules from the declarations:

- the subject column's rule decides the row: ``delete`` removes it; otherwise the row stays
  (others share it) and each personal column in it follows its own rule — ``delete``/``null``
  clear the value, ``pseudonymise`` replaces it, ``keep`` keeps it and says so in the receipt;
- a personal column elsewhere that points at the person (someone's block of them, the inviter
  of an invitation) follows its own rule;
- ids embedded in text columns (the pair key of a direct conversation) are replaced;
- pseudonymised references point at a tombstone account named like "Deleted user 7f3a", so
  the people who shared a conversation see that name and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, MetaData, Table, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.datamap import PURPOSES, Erasure, Personal
from parlour.core.ids import new_id
from parlour.features.accounts.display import ERASED, deleted_label
from parlour.features.privacy.datamap import DERIVED_TABLES, subject_of
from parlour.features.privacy.walker import (
    USERS,
    Identity,
    blob_columns,
    declaration,
    embedded_ids,
    own_where,
    personal_columns,
    points_at,
    references,
)

IN_CHUNK = 500


@dataclass(frozen=True)
class Kept:
    """A value erasure left in place, and the declared reason."""

    column: str
    category: str
    why: str


@dataclass
class Outcome:
    pseudonym: str
    tombstone_id: str
    kept: list[Kept] = field(default_factory=list)
    blob_keys: list[str] = field(default_factory=list)
    unindexed: dict[str, list[Any]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


def pseudonym_label(tombstone_id: str) -> str:
    return deleted_label(tombstone_id)  # the one label of every closed or erased account


def keep_reason(decl: Personal) -> str:
    purposes = ", ".join(
        f"{PURPOSES[p].name.lower()} ({PURPOSES[p].basis.value.replace('_', ' ')})"
        for p in decl.purposes
    )
    return f"kept {decl.retention.describe()} for {purposes}" + (
        f": {decl.description}" if decl.description else ""
    )


class Eraser:
    def __init__(
        self,
        session: AsyncSession,
        metadata: MetaData,
        who: Identity,
        spare: dict[str, ColumnElement[bool]] | None = None,
    ) -> None:
        self._s = session
        self._metadata = metadata
        self._who = who
        self._spare = spare or {}
        tombstone = new_id()
        self.outcome = Outcome(pseudonym_label(tombstone), tombstone)
        self._sqlite = session.get_bind().dialect.name == "sqlite"

    async def erase_txn(self, org_id: str, now: datetime) -> Outcome:
        await self._add_tombstone(org_id, now)
        users = self._metadata.tables[USERS]
        for table in sorted(self._metadata.tables.values(), key=lambda t: t.name):
            if table is not users:
                await self._erase_table(table)
        await self._erase_table(users)
        await self._unindex()
        return self.outcome

    async def _add_tombstone(self, org_id: str, now: datetime) -> None:
        users = self._metadata.tables[USERS]
        tid = self.outcome.tombstone_id
        await self._s.execute(
            users.insert().values(
                id=tid,
                org_id=org_id,
                email=f"erased-{tid}@erased.invalid",
                name=self.outcome.pseudonym,
                password_hash=None,
                role="member",
                is_instance_owner=False,
                status=ERASED,
                created_at=now,
                updated_at=now,
            )
        )

    def _scope(self, table: Table, where: ColumnElement[bool]) -> ColumnElement[bool]:
        spare = self._spare.get(table.name)
        return where if spare is None else where & spare

    async def _erase_table(self, table: Table) -> None:
        own = own_where(table, self._who)
        if own is not None:
            await self._erase_own(table, self._scope(table, own))
        for column, decl in references(table):
            await self._follow(table, column, decl, self._scope(table, column == self._who.user_id))
        for column, decl in embedded_ids(table):
            where = self._scope(table, column.contains(self._who.user_id))
            await self._follow(table, column, decl, where, embedded=True)

    async def _erase_own(self, table: Table, where: ColumnElement[bool]) -> None:
        count = await self._s.scalar(select(func.count()).select_from(table).where(where))
        if not count:
            return
        await self._collect_blobs(table, where)
        ref = _subject_column(table)
        rule = d.erasure if ref is not None and (d := declaration(ref)) else Erasure.DELETE
        await self._note_unindexed(table, where, whole_row=rule == Erasure.DELETE)
        if rule == Erasure.DELETE:
            await self._write(table, delete(table).where(where))
            return
        values = self._kept_row_values(table, ref)
        if values:
            await self._write(table, update(table).where(where).values(**values))

    def _kept_row_values(self, table: Table, ref: Column[Any] | None) -> dict[str, Any]:
        """The row stays for others: every value in it about the person follows its rule."""
        values: dict[str, Any] = {}
        ids_inside = {c.name for c, _ in embedded_ids(table)}
        for column, decl in personal_columns(table):
            is_ref = ref is not None and column.name == ref.name
            if not is_ref and (points_at(column, USERS) or column.name in ids_inside):
                continue  # references to people, each handled by its own pass
            if decl.subject != "user" and not is_ref:
                continue
            value = self._rule_value(table, column, decl)
            if value is not _UNCHANGED:
                values[column.name] = value
        return values

    def _rule_value(self, table: Table, column: Column[Any], decl: Personal) -> Any:
        name = f"{table.name}.{column.name}"
        if decl.erasure == Erasure.KEEP:
            self._keep(name, decl, keep_reason(decl))
            return _UNCHANGED
        if decl.erasure == Erasure.PSEUDONYMISE:
            return self._pseudonym_for(column)
        if column.nullable:
            return None
        self._keep(
            name,
            decl,
            "kept because the record it is part of is kept for the other people in it, "
            "with your identity replaced by a pseudonym",
        )
        return _UNCHANGED

    def _pseudonym_for(self, column: Column[Any]) -> Any:
        if points_at(column, USERS):
            return self.outcome.tombstone_id
        if column.type.python_type is not str:
            return None
        length = getattr(column.type, "length", None) or 200
        return self.outcome.pseudonym[:length]

    async def _follow(
        self,
        table: Table,
        column: Column[Any],
        decl: Personal,
        where: ColumnElement[bool],
        *,
        embedded: bool = False,
    ) -> None:
        if decl.erasure == Erasure.KEEP:
            if await self._s.scalar(select(func.count()).select_from(table).where(where)):
                self._keep(f"{table.name}.{column.name}", decl, keep_reason(decl))
            return
        if decl.erasure == Erasure.DELETE:  # the row goes with the person it points at
            await self._note_unindexed(table, where, whole_row=True)
            await self._write(table, delete(table).where(where))
            return
        value: Any = None
        if decl.erasure == Erasure.PSEUDONYMISE:
            value = self.outcome.tombstone_id
            if embedded:
                value = func.replace(column, self._who.user_id, self.outcome.tombstone_id)
        await self._write(table, update(table).where(where).values({column.name: value}))

    async def _write(self, table: Table, statement: Executable) -> None:
        self.outcome.touched.add(table.name)
        await self._s.execute(statement)

    def _keep(self, name: str, decl: Personal, why: str) -> None:
        if all(k.column != name for k in self.outcome.kept):
            self.outcome.kept.append(Kept(name, decl.category, why))

    async def _collect_blobs(self, table: Table, where: ColumnElement[bool]) -> None:
        for column, _decl in blob_columns(table):
            keys = await self._s.scalars(select(column).where(where, column.is_not(None)))
            self.outcome.blob_keys.extend(str(k) for k in keys)

    async def _note_unindexed(
        self, table: Table, where: ColumnElement[bool], *, whole_row: bool
    ) -> None:
        """SQLite keeps full-text copies apart: remember which rows to drop from them."""
        if not self._sqlite:
            return
        for derived, source in DERIVED_TABLES.items():
            source_table, source_column = source.split(".")
            if source_table != table.name:
                continue
            decl = declaration(table.c[source_column])
            if not whole_row and decl is not None and decl.erasure == Erasure.KEEP:
                continue
            key = next(iter(table.primary_key.columns))
            ids = await self._s.scalars(select(key).where(where))
            self.outcome.unindexed.setdefault(derived, []).extend(ids)

    async def _unindex(self) -> None:
        for derived, ids in self.outcome.unindexed.items():
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start : start + IN_CHUNK]
                marks = ", ".join(f":r{i}" for i in range(len(chunk)))
                await self._s.execute(
                    text(f"DELETE FROM {derived} WHERE rowid IN ({marks})"),  # noqa: S608 - names from the data map
                    {f"r{i}": v for i, v in enumerate(chunk)},
                )


_UNCHANGED = object()


def _subject_column(table: Table) -> Column[Any] | None:
    subject = subject_of(table)
    return table.c[subject.ref] if subject is not None else None
