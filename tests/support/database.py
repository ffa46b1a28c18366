"""A real, migrated database per test: a copied SQLite file, or an emptied PostgreSQL schema."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from parlour.db.engine import create_engine, is_sqlite
from parlour.db.migrate import upgrade
from parlour.db.models import Base


async def migrate_fresh(url: str) -> None:
    engine = create_engine(url)
    try:
        if not is_sqlite(url):
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


async def empty_tables(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def sqlite_template(folder: Path) -> Path:
    template = folder / "template.db"
    asyncio.run(migrate_fresh(f"sqlite+aiosqlite:///{template}"))
    return template


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"
