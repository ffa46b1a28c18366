"""The models and the migrations describe the same schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from parlour.db.engine import create_engine
from parlour.db.models import Base
from parlour.features.privacy.datamap import FOREIGN_TABLES, derived_from

# Created by raw SQL in the chat migration. PostgreSQL's full-text index is on an expression,
# to_tsvector('simple', coalesce(body, '')), which a model's Index cannot state in a form that
# autogenerate compares: it reflects the index without columns and would always call it extra.
EXPRESSION_INDEXES = {"ix_messages_search"}


def _include_name(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
    # The migration tool's own table and SQLite's full-text tables are not modelled.
    if type_ == "table" and name is not None:
        return name not in FOREIGN_TABLES and derived_from(name) is None
    return True


def _expression_index(diff: Any) -> bool:
    return (
        isinstance(diff, tuple)
        and diff[0] == "remove_index"
        and getattr(diff[1], "name", None) in EXPRESSION_INDEXES
    )


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": _include_name},
    )
    return [d for d in compare_metadata(context, Base.metadata) if not _expression_index(d)]


async def _diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_a_freshly_migrated_database_matches_the_models(database_url: str) -> None:
    assert await _diff(database_url) == []


async def test_the_comparison_sees_a_column_the_models_lack(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE organisations ADD COLUMN stray_note VARCHAR(20)"))
        diffs = await _diff(database_url)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE organisations DROP COLUMN stray_note"))
        await engine.dispose()
    assert [(d[0], d[2], d[3].name) for d in diffs] == [
        ("remove_column", "organisations", "stray_note")
    ]
