"""The unit of work: a use case opens one, commits once; after-commit hooks run only on commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._committed = False
        self._after: list[AfterCommit] = []

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
        if self._committed and exc is None:
            for hook in self._after:
                await hook()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    def after_commit(self, hook: AfterCommit) -> None:
        """Publish events or enqueue work only once the data is really there."""
        self._after.append(hook)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def transaction(self) -> UnitOfWork:
        return UnitOfWork(self._sessions())

    async def dispose(self) -> None:
        await self.engine.dispose()
