"""The SFU adapter against a real Janus: a publisher's video reaches a subscriber through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from parlour.media.janus import JanusSfu
from parlour.media.sfu import Feed, SfuError
from tests.support.janus import janus

ROOM = 4242


@pytest.fixture
async def sfu(tmp_path: Path) -> AsyncIterator[JanusSfu]:
    with janus(tmp_path) as url:
        adapter = JanusSfu(url)
        await adapter.start()
        try:
            yield adapter
        finally:
            await adapter.close()


async def until_published(sfu: JanusSfu, room: int) -> list[Feed]:
    """A publisher counts once its media is up; that takes an ICE and DTLS round."""
    for _ in range(200):
        feeds = await sfu.feeds(room)
        if feeds:
            return feeds
        await asyncio.sleep(0.1)
    return []


async def frames_received(pc: RTCPeerConnection, wanted: int) -> int:
    """Decodes frames from the first video track the connection receives."""
    arrived: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def _on_track(track: object) -> None:
        if not arrived.done():
            arrived.set_result(track)

    track = await asyncio.wait_for(arrived, 20)
    count = 0
    while count < wanted:
        try:
            await asyncio.wait_for(track.recv(), 20)  # type: ignore[attr-defined]
        except MediaStreamError:
            break
        count += 1
    return count


async def test_video_published_to_a_room_reaches_a_subscriber(sfu: JanusSfu) -> None:
    await sfu.ensure_room(ROOM, max_publishers=10)
    await sfu.ensure_room(ROOM, max_publishers=10)  # idempotent

    publisher = RTCPeerConnection()
    publisher.addTrack(VideoStreamTrack())
    await publisher.setLocalDescription(await publisher.createOffer())
    published = await sfu.publish(ROOM, "ann", publisher.localDescription.sdp)
    await publisher.setRemoteDescription(RTCSessionDescription(published.answer_sdp, "answer"))

    feeds = await until_published(sfu, ROOM)
    assert [(f.feed, f.display) for f in feeds] == [(published.feed, "ann")]

    subscriber = RTCPeerConnection()
    offer = await sfu.subscribe(ROOM, published.feed)
    counting = asyncio.ensure_future(frames_received(subscriber, 10))
    await subscriber.setRemoteDescription(RTCSessionDescription(offer.offer_sdp, "offer"))
    await subscriber.setLocalDescription(await subscriber.createAnswer())
    await sfu.answer(offer.handle, subscriber.localDescription.sdp)
    try:
        assert await asyncio.wait_for(counting, 40) == 10
    finally:
        await subscriber.close()
        await publisher.close()
        await sfu.leave(offer.handle)
        await sfu.leave(published.handle)
        await sfu.destroy_room(ROOM)


async def test_a_feed_that_does_not_exist_is_a_clear_error(sfu: JanusSfu) -> None:
    await sfu.ensure_room(ROOM + 1, max_publishers=4)
    with pytest.raises(SfuError):
        await sfu.subscribe(ROOM + 1, 12345)
    with pytest.raises(SfuError):
        await sfu.feeds(999_999)
