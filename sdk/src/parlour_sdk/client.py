"""`Client` (blocking) and `AsyncClient` (asyncio): two transports over one endpoint table.

Each API method is declared once, as a function of `parlour_sdk.endpoints` that builds an
`Operation`; the clients bind those functions with `sync_op` / `async_op`, which only decide
how the operation is sent.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from parlour_sdk import endpoints as api
from parlour_sdk.endpoints import Operation, read_response
from parlour_sdk.errors import TransportError
from parlour_sdk.models import Message
from parlour_sdk.stream import AsyncStream, Stream, StreamTarget

P = ParamSpec("P")
R = TypeVar("R")
__version__ = "0.1.0"
USER_AGENT = f"parlour-sdk/{__version__}"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}


def retry_delay(
    op: Operation[Any], error: httpx.TransportError, attempt: int, retries: int
) -> float | None:
    """Seconds before trying again after a network failure, or None to give up.

    A request that never connected is always safe to repeat; one that may have reached the
    server only when repeating it cannot act twice (a GET, or a POST with an Idempotency-Key).
    """
    if attempt >= retries:
        return None
    if not (op.retry_safe or isinstance(error, httpx.ConnectError)):
        return None
    return 0.25 * float(2**attempt)


class sync_op(Generic[P, R]):
    """Binds an operation builder to `Client`: calling it sends the request and returns R."""

    def __init__(self, build: Callable[P, Operation[R]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, client: Client | None, owner: type[Any]) -> Self | Callable[P, R]:
        if client is None:
            return self
        build = self._build

        @functools.wraps(build)
        def send(*args: P.args, **kwargs: P.kwargs) -> R:
            return client.run(build(*args, **kwargs))

        return send


class async_op(Generic[P, R]):
    """Binds an operation builder to `AsyncClient`: calling it gives a coroutine of R."""

    def __init__(self, build: Callable[P, Operation[R]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(
        self, client: AsyncClient | None, owner: type[Any]
    ) -> Self | Callable[P, Coroutine[Any, Any, R]]:
        if client is None:
            return self
        build = self._build

        @functools.wraps(build)
        async def send(*args: P.args, **kwargs: P.kwargs) -> R:
            return await client.run(build(*args, **kwargs))

        return send


class Client:
    """A blocking client. `Client("https://chat.example.org", token)`; close it, or use `with`.

    `token` is a personal API token or an organisation API key (`pk_…`); both are sent as
    `Authorization: Bearer <token>`.
    """

    me = sync_op(api.me)
    members = sync_op(api.members)
    conversations = sync_op(api.conversations)
    conversation = sync_op(api.conversation)
    create_direct = sync_op(api.create_direct)
    create_group = sync_op(api.create_group)
    messages = sync_op(api.messages)
    send_message = sync_op(api.send_message)
    edit_message = sync_op(api.edit_message)
    delete_message = sync_op(api.delete_message)
    calls = sync_op(api.calls)
    call = sync_op(api.call)

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._target = StreamTarget(base_url, token)
        self._retries = retries
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport
        )

    def run(self, op: Operation[R]) -> R:
        """Sends one operation (retrying network failures where that is safe) and parses it."""
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    op.method, op.path, params=op.params, json=op.json, headers=op.headers
                )
            except httpx.TransportError as error:
                delay = retry_delay(op, error, attempt, self._retries)
                if delay is None:
                    raise TransportError(f"{op.method} {op.path}: {error!r}") from error
                time.sleep(delay)
                attempt += 1
                continue
            return read_response(op, response)

    def iter_messages(self, conversation_id: str, *, page_size: int = 100) -> Iterator[Message]:
        """The whole history of a conversation, newest first, fetched a page at a time."""
        before: int | None = None
        while True:
            page = self.messages(conversation_id, before=before, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            before = api.older_than(page)

    def stream(
        self, since: int | None = None, *, ephemeral: bool = False, reconnect: bool = True
    ) -> Stream:
        """The event stream; see `parlour_sdk.stream.Stream`."""
        return Stream(self._target, since, ephemeral=ephemeral, reconnect=reconnect)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: the same methods as `Client`, each a coroutine."""

    me = async_op(api.me)
    members = async_op(api.members)
    conversations = async_op(api.conversations)
    conversation = async_op(api.conversation)
    create_direct = async_op(api.create_direct)
    create_group = async_op(api.create_group)
    messages = async_op(api.messages)
    send_message = async_op(api.send_message)
    edit_message = async_op(api.edit_message)
    delete_message = async_op(api.delete_message)
    calls = async_op(api.calls)
    call = async_op(api.call)

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._target = StreamTarget(base_url, token)
        self._retries = retries
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport
        )

    async def run(self, op: Operation[R]) -> R:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    op.method, op.path, params=op.params, json=op.json, headers=op.headers
                )
            except httpx.TransportError as error:
                delay = retry_delay(op, error, attempt, self._retries)
                if delay is None:
                    raise TransportError(f"{op.method} {op.path}: {error!r}") from error
                await asyncio.sleep(delay)
                attempt += 1
                continue
            return read_response(op, response)

    async def iter_messages(
        self, conversation_id: str, *, page_size: int = 100
    ) -> AsyncIterator[Message]:
        before: int | None = None
        while True:
            page = await self.messages(conversation_id, before=before, limit=page_size)
            for message in page:
                yield message
            if len(page) < page_size:
                return
            before = api.older_than(page)

    def stream(
        self, since: int | None = None, *, ephemeral: bool = False, reconnect: bool = True
    ) -> AsyncStream:
        """The event stream: `async for event in client.stream(since=last_id)`."""
        return AsyncStream(self._target, since, ephemeral=ephemeral, reconnect=reconnect)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
