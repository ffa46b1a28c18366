"""The unit of work: a use case opens one, commits once; after-commit hooks run only on commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

AfterCommit = Callable[[], Awaitable[None]]
WRITE_LOCK_KEY = 7_210_411
log = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(self, session: AsyncSession, write_lock: asyncio.Lock | None) -> None:
        self.session = session
        self._committed = False
        self._after: list[AfterCommit] = []
        self._once: set[str] = set()
        self._write_lock = write_lock
        self._holding = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                # Read-only use cases hand loaded rows back; detach them before the rollback
                # so they keep their values instead of being expired.
                self.session.expunge_all()
                await self.session.rollback()
        finally:
            await self.session.close()
            if self._holding and self._write_lock is not None:
                self._write_lock.release()
                self._holding = False
        if self._committed and exc is None:
            await self._run_after()

    async def _run_after(self) -> None:
        """Every hook runs, and none can fail the use case: the data is committed, and what
        the hooks do (wake a loop, publish a hint) the loops also find by polling. A request
        that saved its data never answers 500 because a wake-up could not be sent."""
        for hook in self._after:
            try:
                await hook()
            except Exception as exc:  # logged; the loops poll anyway
                log.warning(
                    "after-commit hook failed",
                    extra={
                        "event": "uow.after_commit_failed",
                        "hook": getattr(hook, "__qualname__", "hook"),
                        "error": type(exc).__name__,
                    },
                )

    async def serialize_writes(self) -> None:
        """Writers that call this commit one after another, in the order they got here.

        PostgreSQL: a transaction-scoped advisory lock, shared by every node. SQLite allows one
        writer anyway; waiting on a process lock is far cheaper than its busy-retry sleeps.
        """
        if self._write_lock is not None:
            if not self._holding:
                await self._write_lock.acquire()
                self._holding = True
            return
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    def after_commit(self, hook: AfterCommit, once: str | None = None) -> None:
        """Publish events or enqueue work only once the data is really there.

        With ``once``, a hook of that name is added a single time however often it is asked.
        """
        if once is not None:
            if once in self._once:
                return
            self._once.add(once)
        self._after.append(hook)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if sqlite else None

    def transaction(self) -> UnitOfWork:
        return UnitOfWork(self._sessions(), self._write_lock)

    async def dispose(self) -> None:
        await self.engine.dispose()
