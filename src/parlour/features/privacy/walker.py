"""Walks the data map from a person's identity to the rows held about them.

Every table says, in its subject declaration, which column ties a row to its person, and may say
more: that its rows open a shared space to their subject (``grants``: conversation members see
their conversations), that its rows live in such a space (``shared_via``), or that they are about
a second person (``about``). From those declarations alone this module answers, for one person:

- *own* rows: the subject column holds their user id (or, for tables about an address such as
  invitations and mail, their email);
- *shared* rows: someone else's rows in a space the person belongs to (messages in their
  conversations) — of these only the columns declared ``shared`` are theirs to see;
- *about* rows: someone else's rows about the person (a contact entry naming them) — again
  only the ``shared`` columns;
- *references*: other personal columns pointing at the person, which erasure must follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Column, MetaData, Select, Table, false, func, not_, select
from sqlalchemy.sql.elements import ColumnElement

from parlour.core.datamap import DATAMAP_KEY, Personal, Subject
from parlour.features.privacy.datamap import subject_of

Relation = Literal["own", "shared", "about"]
EMAIL = "user.contact.email"
USER_ID = "user.unique_id"
USERS = "users"


@dataclass(frozen=True)
class Identity:
    user_id: str
    email: str


@dataclass(frozen=True)
class Selection:
    """Some rows of one table that concern the person, and the columns they may see."""

    table: Table
    relation: Relation
    where: ColumnElement[bool]
    columns: tuple[Column[object], ...]


def declaration(column: Column[object]) -> Personal | None:
    found = column.info.get(DATAMAP_KEY)
    return found if isinstance(found, Personal) else None


def personal_columns(table: Table) -> list[tuple[Column[object], Personal]]:
    return [(c, d) for c in table.columns if (d := declaration(c)) is not None]


def points_at(column: Column[object], table: str) -> bool:
    return any(fk.column.table.name == table for fk in column.foreign_keys)


def target_of(column: Column[object]) -> Column[object]:
    fk = next(iter(column.foreign_keys))
    return fk.column


def own_where(table: Table, who: Identity) -> ColumnElement[bool] | None:
    """The rows whose subject is this person, or None when the table holds no such rows."""
    subject = subject_of(table)
    if subject is None:
        return None
    ref = table.c[subject.ref]
    if subject.kind == "user":
        return ref == who.user_id
    decl = declaration(ref)
    if decl is not None and decl.category == EMAIL:
        return func.lower(ref) == who.email.lower()
    return None


def spaces(metadata: MetaData, who: Identity) -> dict[str, Select[tuple[object]]]:
    """For each shared space (by table name), a query of the ids of those the person is in."""
    found: dict[str, Select[tuple[object]]] = {}
    for table in metadata.tables.values():
        subject = subject_of(table)
        if subject is None or subject.grants is None or subject.kind != "user":
            continue
        grant = table.c[subject.grants]
        found[target_of(grant).table.name] = select(grant).where(
            table.c[subject.ref] == who.user_id
        )
    return found


def _path_where(
    table: Table, path: list[str], member_of: dict[str, Select[tuple[object]]]
) -> ColumnElement[bool] | None:
    column = table.c[path[0]]
    if len(path) == 1:
        if column.primary_key and table.name in member_of:
            return column.in_(member_of[table.name])
        target = target_of(column) if column.foreign_keys else None
        if target is not None and target.table.name in member_of:
            return column.in_(member_of[target.table.name])
        return None
    target = target_of(column)
    inner = _path_where(target.table, path[1:], member_of)
    return None if inner is None else column.in_(select(target).where(inner))


def shared_where(
    table: Table, subject: Subject, member_of: dict[str, Select[tuple[object]]]
) -> ColumnElement[bool] | None:
    if subject.shared_via is None:
        return None
    return _path_where(table, subject.shared_via.split("."), member_of)


def selections(metadata: MetaData, who: Identity) -> list[Selection]:
    """What the person's export holds, table by table, in a stable order."""
    member_of = spaces(metadata, who)
    out: list[Selection] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        out.extend(_table_selections(table, who, member_of))
    return out


def _table_selections(
    table: Table, who: Identity, member_of: dict[str, Select[tuple[object]]]
) -> list[Selection]:
    subject = subject_of(table)
    if subject is None:
        return []
    exported = [(c, d) for c, d in personal_columns(table) if d.exported]
    own = own_where(table, who)
    mine = own if own is not None else false()
    out: list[Selection] = []
    if own is not None and exported:
        out.append(Selection(table, "own", own, tuple(c for c, _ in exported)))
    visible = tuple(c for c, d in exported if d.shared)
    if not visible:
        return out
    shared = shared_where(table, subject, member_of)
    if shared is not None:
        out.append(Selection(table, "shared", shared & not_(mine), visible))
    if subject.about is not None:
        about = table.c[subject.about] == who.user_id
        if shared is not None:
            about = about & not_(shared)
        visible_about = tuple(c for c in visible if c.name != subject.ref)
        out.append(Selection(table, "about", about & not_(mine), visible_about))
    return out


def references(table: Table) -> list[tuple[Column[object], Personal]]:
    """Personal columns other than the subject column that point at a user: erasure follows
    each by its own rule (a block naming you, a message you sent into someone's thread)."""
    subject = subject_of(table)
    ref = subject.ref if subject is not None else None
    return [
        (c, d)
        for c, d in personal_columns(table)
        if c.name != ref and points_at(c, USERS) and d.category.startswith(USER_ID)
    ]


def embedded_ids(table: Table) -> list[tuple[Column[object], Personal]]:
    """Text columns declared as user ids that are not foreign keys: they may hold the id inside
    a composite value (the pair key of a direct conversation, a job's arguments)."""
    subject = subject_of(table)
    ref = subject.ref if subject is not None else None
    return [
        (c, d)
        for c, d in personal_columns(table)
        if c.name != ref
        and not c.foreign_keys
        and d.category == USER_ID
        and c.type.python_type is str
    ]


def blob_columns(table: Table) -> list[tuple[Column[object], Personal]]:
    return [(c, d) for c, d in personal_columns(table) if d.blob is not None]
