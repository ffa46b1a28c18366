"""Fixtures: a real database per test, the app with its lifespan, and an HTTP client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.db.engine import create_engine
from parlour.settings import Settings
from tests.support.database import copy_sqlite, empty_tables, migrate_fresh, sqlite_template

TEST_DB = os.environ.get("PARLOUR_TEST_DATABASE_URL")
pytest_plugins = ["tests.support.promises"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "promise(id): proves a promise of PROMISES.md")


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Migrations run once per session; each test then starts from that state."""
    if TEST_DB:
        import asyncio

        asyncio.run(migrate_fresh(TEST_DB))
        return None
    return sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
async def database_url(db_template: Path | None, tmp_path: Path) -> str:
    """A database in the migrated state with no rows: every test starts from nothing."""
    if TEST_DB:
        engine = create_engine(TEST_DB)
        try:
            await empty_tables(engine)
        finally:
            await engine.dispose()
        return TEST_DB
    assert db_template is not None
    return copy_sqlite(db_template, tmp_path / "parlour.db")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        password_time_cost=1,
        password_memory_cost=1024,
        log_json=True,
    )


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def container(app: FastAPI) -> Container:
    c: Container = app.state.container
    return c


def make_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.57", 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("PARLOUR_") and name not in (
            "PARLOUR_REQUIRE_SERVICES",
            "PARLOUR_TEST_DATABASE_URL",
            "PARLOUR_TEST_POSTGRES_URL",
        ):
            monkeypatch.delenv(name)
    yield
