"""The bus: publish bytes on named channels, receive them on bounded subscriptions.

Backends: in-process (one node) and Redis (many nodes). Both deliver through the same local
fan-out, so the overflow policy is the same everywhere: a subscriber whose queue is full is
cut off (its next ``get`` raises ``Overflow``) rather than allowed to grow memory; it resumes
from the database with the last event id it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_QUEUE = 1000


@dataclass(frozen=True)
class Message:
    channel: str
    data: bytes
    decoded: Any = field(default=None, compare=False)  # parsed form, when the sender has it


class Overflow(Exception):
    """The subscriber fell too far behind and was cut off."""


class Closed(Exception):
    """The subscription or the bus was closed."""


_CLOSE = object()


class Subscription:
    """A bounded inbox for the channels one consumer listens to."""

    def __init__(self, fanout: LocalFanout, maxsize: int) -> None:
        self._fanout = fanout
        self._queue: asyncio.Queue[Message | object] = asyncio.Queue(maxsize)
        self.channels: set[str] = set()
        self.overflowed = False
        self.closed = False

    def offer(self, message: Message) -> None:
        if self.overflowed or self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            self._fanout.detach(self)

    async def get(self) -> Message:
        if self.overflowed and self._queue.empty():
            raise Overflow
        item = await self._queue.get()
        if item is _CLOSE:
            raise Closed
        if not isinstance(item, Message):
            raise Closed
        return item

    def pending(self) -> int:
        return self._queue.qsize()

    async def listen(self, *channels: str) -> None:
        await self._fanout.attach(self, channels)

    async def unlisten(self, *channels: str) -> None:
        await self._fanout.release(self, channels)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._fanout.release(self, tuple(self.channels))
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSE)


class Transport(Protocol):
    """How a node hears about channels: nothing (in-process) or a Redis connection."""

    async def first_listener(self, channel: str) -> None: ...
    async def last_listener_gone(self, channel: str) -> None: ...


class LocalFanout:
    """Delivers to this process's subscriptions; tells the transport when channels start/stop."""

    def __init__(self, transport: Transport | None = None) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._transport = transport
        self._lock = asyncio.Lock()

    def deliver(self, message: Message) -> None:
        for sub in tuple(self._subs.get(message.channel, ())):
            sub.offer(message)

    def deliver_once(self, channels: Iterable[str], message: Message) -> None:
        """One copy per subscriber, however many of these channels it listens to."""
        seen: set[int] = set()
        for channel in channels:
            for sub in tuple(self._subs.get(channel, ())):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.offer(message)

    async def attach(self, sub: Subscription, channels: Iterable[str]) -> None:
        async with self._lock:
            for channel in channels:
                listeners = self._subs.setdefault(channel, set())
                if not listeners and self._transport is not None:
                    await self._transport.first_listener(channel)
                listeners.add(sub)
                sub.channels.add(channel)

    async def release(self, sub: Subscription, channels: Iterable[str]) -> None:
        async with self._lock:
            for channel in channels:
                listeners = self._subs.get(channel)
                sub.channels.discard(channel)
                if listeners is None:
                    continue
                listeners.discard(sub)
                if not listeners:
                    del self._subs[channel]
                    if self._transport is not None:
                        await self._transport.last_listener_gone(channel)

    def detach(self, sub: Subscription) -> None:
        """Synchronous removal for an overflowed subscriber (called from delivery)."""
        for channel in tuple(sub.channels):
            listeners = self._subs.get(channel)
            if listeners is not None:
                listeners.discard(sub)

    def channel_count(self) -> int:
        return len(self._subs)


class PubSub(Protocol):
    async def publish(self, channel: str, data: bytes) -> None: ...
    async def subscribe(self, *channels: str, maxsize: int = DEFAULT_QUEUE) -> Subscription: ...
    async def close(self) -> None: ...


class MemoryPubSub:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()

    async def publish(self, channel: str, data: bytes) -> None:
        self._fanout.deliver(Message(channel, data))

    async def subscribe(self, *channels: str, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        sub = Subscription(self._fanout, maxsize)
        await sub.listen(*channels)
        return sub

    async def close(self) -> None:
        return None
