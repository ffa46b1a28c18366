"""Engines for SQLite (WAL, foreign keys on) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from parlour.db.sqlite_driver import OneTripDBAPI
from parlour.settings import SettingsError


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")  # erased data is overwritten, not just unlinked
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SettingsError("PARLOUR_DATABASE_URL", "is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        # One trip to aiosqlite's thread per statement instead of four (see sqlite_driver).
        driver = {"module": OneTripDBAPI()} if parsed.get_driver_name() == "aiosqlite" else {}
        engine = create_async_engine(url, connect_args={"timeout": 10}, **driver)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise SettingsError("PARLOUR_DATABASE_URL", "only sqlite and postgresql are supported")


async def check_reachable(engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        host = engine.url.host or engine.url.database
        raise SettingsError(
            "PARLOUR_DATABASE_URL", f"cannot connect to the database at {host} ({reason})"
        ) from exc
