"""The data map covers the database as it really is after migrations, column by column.

The live schema is read with SQLAlchemy's inspector from the migrated test database (a SQLite
file, or PostgreSQL when PARLOUR_TEST_DATABASE_URL names one), not from the models: a column
a migration adds without a declaration must fail here.
"""

from __future__ import annotations

import json

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from parlour.cli import app as cli_app
from parlour.db.engine import create_engine
from parlour.db.models import Base
from parlour.features.privacy.datamap import FOREIGN_TABLES, derived_from, problems


def _read(connection: Connection) -> dict[str, list[str]]:
    inspector = inspect(connection)
    return {
        table: [column["name"] for column in inspector.get_columns(table)]
        for table in inspector.get_table_names()
    }


async def live_schema(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        return await conn.run_sync(_read)


async def test_every_live_column_is_declared_in_the_data_map(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        live = await live_schema(engine)
    finally:
        await engine.dispose()
    # The check is only worth something if it saw the real tables.
    assert {"users", "auth_sessions", "organisations", "messages"} <= set(live)
    assert len(live["users"]) >= 10
    assert problems(Base.metadata, live) == []


async def test_a_column_added_behind_the_models_back_is_reported(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE users ADD COLUMN shoe_size VARCHAR(8)"))
            await conn.execute(text("CREATE TABLE side_notes (id VARCHAR(32) PRIMARY KEY)"))
        live = await live_schema(engine)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE side_notes"))
            await conn.execute(text("ALTER TABLE users DROP COLUMN shoe_size"))
        await engine.dispose()
    assert problems(Base.metadata, live) == [
        "table side_notes exists in the database but no model declares it",
        "column users.shoe_size does not declare whether it is personal",
    ]


def test_the_printed_data_map_covers_every_table_and_column() -> None:
    result = CliRunner().invoke(cli_app, ["privacy", "datamap", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    printed = {(r["table"], r["column"]) for r in rows}
    modelled = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
    }
    assert printed == modelled
    for row in rows:
        assert row["personal"] or row["reason"], row
        if row["personal"]:
            assert row["purposes"] and row["retention"] and row["erasure"], row


async def test_the_printed_data_map_names_every_live_table(database_url: str) -> None:
    """Every table in the database is printed, or is one the data map explains it leaves out."""
    engine = create_engine(database_url)
    try:
        live = await live_schema(engine)
    finally:
        await engine.dispose()
    result = CliRunner().invoke(cli_app, ["privacy", "datamap", "--format", "json"])
    printed = {r["table"] for r in json.loads(result.output)}
    left_out = {t for t in live if t in FOREIGN_TABLES or derived_from(t) is not None}
    assert set(live) - left_out == printed


def test_an_unknown_format_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(cli_app, ["privacy", "datamap", "--format", "yaml"])
    assert result.exit_code == 2
    assert "--format" in result.output
