"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs each SQLite connection on a worker thread. SQLAlchemy's adapter makes a round
trip to that thread for every cursor operation: open, execute, fetch, close. Each trip is a
thread wake-up and a GIL hand-over in both directions, and on the send path those trips cost
more than the SQL itself. Here a statement is opened, executed, fetched and closed in one
call on the worker thread, and a rollback with no transaction open is skipped (the pool asks
for one every time a connection comes back).

The SQL, the connection, the thread and the transactions are exactly those of SQLAlchemy's
aiosqlite dialect; only the number of trips changes. It uses ``aiosqlite.Connection._execute``
(the queue to the worker thread), as SQLAlchemy's own adapter does for isolation levels.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any, NamedTuple

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import immutabledict
from sqlalchemy.util.concurrency import await_


class _Outcome(NamedTuple):
    description: Any
    rowcount: int
    lastrowid: int | None
    rows: list[Any]


def _execute_on_thread(
    raw: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """Runs on aiosqlite's worker thread: the whole statement, start to finish."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return _Outcome(cursor.description, cursor.rowcount, cursor.lastrowid, rows)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A DB-API cursor whose results are fetched with the statement."""

    __slots__ = ("_outcome",)

    def __init__(self, adapt_connection: Any) -> None:
        # No trip to open an aiosqlite cursor: the statement opens its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = immutabledict()
        self._rows = deque()
        self._outcome: _Outcome | None = None

    @property
    def description(self) -> Any:
        return None if self._outcome is None else self._outcome.description

    @property
    def rowcount(self) -> int:
        return -1 if self._outcome is None else self._outcome.rowcount

    @property
    def lastrowid(self) -> Any:
        return None if self._outcome is None else self._outcome.lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        return None

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: str, parameters: Any, many: bool) -> None:
        try:
            await_(self._run_async(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run_async(self, operation: str, parameters: Any, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _execute_on_thread, connection._conn, operation, parameters, many
            )
        self._outcome = outcome
        self._rows = deque(outcome.rows)

    async def _async_soft_close(self) -> None:
        return None  # already closed on the thread

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None

    def nextset(self) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        raw: sqlite3.Connection | None = self._connection._connection
        if raw is not None and not raw.in_transaction:
            return  # nothing to undo; SQLite would answer "no transaction" anyway
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` with a ``sqlite+aiosqlite`` URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
