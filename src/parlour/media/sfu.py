"""What calls need of a selective forwarding unit, whichever one runs behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class SfuError(Exception):
    """The SFU refused a request or could not be reached."""


@dataclass(frozen=True)
class Publication:
    handle: int
    feed: int
    answer_sdp: str


@dataclass(frozen=True)
class Offer:
    handle: int
    offer_sdp: str


@dataclass(frozen=True)
class Feed:
    feed: int
    display: str


class Sfu(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ensure_room(self, room: int, max_publishers: int) -> None: ...

    async def publish(self, room: int, display: str, offer_sdp: str) -> Publication: ...

    async def subscribe(self, room: int, feed: int) -> Offer: ...

    async def answer(self, handle: int, answer_sdp: str) -> None: ...

    async def trickle(self, handle: int, candidate: dict[str, Any] | None) -> None: ...

    async def feeds(self, room: int) -> list[Feed]: ...

    async def leave(self, handle: int) -> None: ...

    async def destroy_room(self, room: int) -> None: ...
