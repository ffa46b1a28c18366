"""The same chat client twice: over Parlour's JSON API and stream, and over Matrix's client API.

Each client seeds users and rooms, keeps one live listener per user (Parlour: the stream
WebSocket, resumed with `since` if it drops; Matrix: a /sync long-poll with a filter that keeps
only the bench rooms' message timeline), and sends a message as a given user with an
idempotency key (Parlour: the Idempotency-Key header; Matrix: the transaction id).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import websockets

from bench.harness import PASSWORD
from bench.vs_servers import Running

Sink = Callable[[str, int], None]  # (message body, receiving user)
SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 1000  # far above what arrives between two syncs, so no timeline gaps
SEED_CONCURRENCY = 8
RETRIES = 3  # a pooled connection the server closes as it is reused: the request is sent again


class ChatClient(Protocol):
    gaps: int

    async def seed(self, groups: list[list[int]]) -> None: ...
    async def listen(self, user: int, ready: asyncio.Event, sink: Sink) -> None: ...
    async def send(self, user: int, room: int, body: str, key: str) -> None: ...
    async def close(self) -> None: ...


def _clients(url: str, senders: int, listeners: int) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """One pooled client for sends, one for long-polls (so they never wait for each other)."""
    send = httpx.AsyncClient(
        base_url=url,
        timeout=60,
        limits=httpx.Limits(max_connections=senders, max_keepalive_connections=senders),
    )
    poll = httpx.AsyncClient(
        base_url=url,
        timeout=SYNC_TIMEOUT_MS / 1000 + 30,
        limits=httpx.Limits(max_connections=listeners + 4),
    )
    return send, poll


async def _bounded(jobs: list[Any], limit: int = SEED_CONCURRENCY) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def _request(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request, sent again when the connection drops before an answer. Only for requests
    that are safe to repeat: reads, and writes with an idempotency key or a checked outcome."""
    for attempt in range(RETRIES):
        try:
            return await http.request(method, url, **kw)
        except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError):
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _person(i: int, policy: str, **extra: str) -> dict[str, Any]:
    return {
        "name": f"Bench {i}",
        "email": f"bench{i}@example.org",
        "password": PASSWORD,
        "birth_date": "1990-01-01",
        "accept_policy": policy,
        **extra,
    }


class ParlourChat:
    def __init__(self, server: Running, users: int, senders: int) -> None:
        self.server = server
        self.users = users
        self.http, _ = _clients(server.url, senders, 0)
        self.ids: list[str] = []
        self.tokens: list[str] = []
        self.rooms: list[str] = []
        self.gaps = 0  # reconnections; a resumed stream replays what it missed, so no loss

    async def seed(self, groups: list[list[int]]) -> None:
        invitation, policy = await self._owner()
        made = await _bounded([self._user(i, invitation, policy) for i in range(self.users)])
        self.ids, self.tokens = [m[0] for m in made], [m[1] for m in made]
        for members in groups:
            self.rooms.append(await self._conversation(members))

    async def _owner(self) -> tuple[str, str]:
        """The organisation and its owner (user 0) from the setup link; an invitation code."""
        got = await _request(self.http, "GET", "/api/v1/policy")
        got.raise_for_status()
        policy: str = got.json()["version"]
        token = self.server.extra["setup"].split("token=")[1]
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60) as http:
            body = _person(0, policy, token=token, org_name="Bench")
            owner = await http.post("/api/v1/setup", json=body)
            owner.raise_for_status()
            http.headers["X-CSRF-Token"] = owner.json()["csrf_token"]
            org_id = owner.json()["user"]["org_id"]
            made = await http.post(f"/api/v1/orgs/{org_id}/invitations", json={})
            made.raise_for_status()
        link: str = made.json()["link"]
        return link.split("invitation=")[1], policy

    async def _user(self, i: int, invitation: str, policy: str) -> tuple[str, str]:
        """Sign-up (not for the owner), an API token and the user's id. A client per user: a
        sign-up sets a session cookie that must not leak to the next."""
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60) as http:
            if i > 0:
                body = _person(i, policy, invitation=invitation)
                joined = await _request(http, "POST", "/api/v1/auth/signup", json=body)
                if joined.status_code != 409:  # 409: a repeated sign-up that had gone through
                    joined.raise_for_status()
            login = {"email": f"bench{i}@example.org", "password": PASSWORD, "name": "bench"}
            made = await _request(http, "POST", "/api/v1/auth/tokens", json=login)
            made.raise_for_status()
            token: str = made.json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            me = await _request(http, "GET", "/api/v1/me", headers=auth)
            me.raise_for_status()
            return me.json()["id"], token

    async def _conversation(self, members: list[int]) -> str:
        if len(members) == 2:
            body: dict[str, Any] = {"kind": "direct", "user_id": self.ids[members[1]]}
        else:
            others = [self.ids[m] for m in members[1:]]
            body = {"kind": "group", "name": f"room {len(self.rooms)}", "member_ids": others}
        made = await self.http.post(
            "/api/v1/conversations", json=body, headers=self._auth(members[0])
        )
        made.raise_for_status()
        room: str = made.json()["id"]
        return room

    def _auth(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def listen(self, user: int, ready: asyncio.Event, sink: Sink) -> None:
        since: int | None = None
        address = self.server.url.replace("http://", "ws://")
        while True:
            query = "" if since is None else f"?since={since}"
            try:
                async with websockets.connect(
                    f"{address}/api/v1/stream{query}",
                    additional_headers=self._auth(user),
                    max_queue=None,
                ) as ws:
                    async for raw in ws:
                        since = self._frame(json.loads(raw), user, ready, sink, since)
            except websockets.ConnectionClosed:
                self.gaps += 1

    @staticmethod
    def _frame(
        frame: dict[str, Any], user: int, ready: asyncio.Event, sink: Sink, since: int | None
    ) -> int | None:
        kind = frame["type"]
        if kind == "message.created":
            sink(frame["data"]["message"]["body"] or "", user)
        elif kind == "ready":
            ready.set()
        if isinstance(frame.get("id"), int):
            return int(frame["id"])
        return int(frame["last_event_id"]) if "last_event_id" in frame else since

    async def send(self, user: int, room: int, body: str, key: str) -> None:
        sent = await _request(
            self.http,
            "POST",
            f"/api/v1/conversations/{self.rooms[room]}/messages",
            json={"body": body},
            headers={**self._auth(user), "Idempotency-Key": key},
        )
        sent.raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()


class MatrixChat:
    def __init__(self, server: Running, users: int, senders: int) -> None:
        self.server = server
        self.users = users
        self.http, self.poll = _clients(server.url, senders, users)
        self.ids: list[str] = []
        self.tokens: list[str] = []
        self.rooms: list[str] = []
        self.rooms_of: list[list[str]] = [[] for _ in range(users)]
        self.gaps = 0  # timelines marked "limited": events skipped by the server

    async def seed(self, groups: list[list[int]]) -> None:
        made = await _bounded([self._register(i) for i in range(self.users)])
        self.ids, self.tokens = [m[0] for m in made], [m[1] for m in made]
        for members in groups:
            room = await self._room(members)
            self.rooms.append(room)
            for m in members:
                self.rooms_of[m].append(room)

    async def _register(self, i: int) -> tuple[str, str]:
        """The shared-secret admin API: a nonce, then an HMAC over nonce, name and password."""
        path = "/_synapse/admin/v1/register"
        nonce = (await self.http.get(path)).json()["nonce"]
        name = f"bench{i}"
        mac = hmac.new(self.server.extra["shared_secret"].encode(), digestmod=hashlib.sha1)
        mac.update(f"{nonce}\0{name}\0{PASSWORD}\0notadmin".encode())
        body = {"nonce": nonce, "username": name, "password": PASSWORD, "mac": mac.hexdigest()}
        made = await self.http.post(path, json={**body, "admin": False})
        made.raise_for_status()
        return made.json()["user_id"], made.json()["access_token"]

    def _auth(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def _room(self, members: list[int]) -> str:
        body = {
            "preset": "private_chat" if len(members) > 2 else "trusted_private_chat",
            "is_direct": len(members) == 2,
            "name": f"room {len(self.rooms)}",
            "invite": [self.ids[m] for m in members[1:]],
        }
        made = await self.http.post(
            "/_matrix/client/v3/createRoom", json=body, headers=self._auth(members[0])
        )
        made.raise_for_status()
        room: str = made.json()["room_id"]
        await _bounded([self._join(m, room) for m in members[1:]])
        return room

    async def _join(self, user: int, room: str) -> None:
        joined = await self.http.post(
            f"/_matrix/client/v3/join/{quote(room)}", json={}, headers=self._auth(user)
        )
        joined.raise_for_status()

    async def _filter(self, user: int) -> str:
        nothing: dict[str, Any] = {"types": []}
        room = {
            "rooms": self.rooms_of[user],
            "timeline": {"types": ["m.room.message"], "limit": TIMELINE_LIMIT},
            "state": {"types": [], "lazy_load_members": True},
            "ephemeral": nothing,
            "account_data": nothing,
        }
        body = {"room": room, "presence": nothing, "account_data": nothing}
        made = await self.http.post(
            f"/_matrix/client/v3/user/{quote(self.ids[user])}/filter",
            json=body,
            headers=self._auth(user),
        )
        made.raise_for_status()
        filter_id: str = made.json()["filter_id"]
        return filter_id

    async def listen(self, user: int, ready: asyncio.Event, sink: Sink) -> None:
        params = {"filter": await self._filter(user), "timeout": "0", "set_presence": "offline"}
        since = (await self._sync(user, params, sink))["next_batch"]  # skip the set-up history
        ready.set()
        params["timeout"] = str(SYNC_TIMEOUT_MS)
        while True:
            try:
                since = (await self._sync(user, {**params, "since": since}, sink))["next_batch"]
            except httpx.TransportError:
                self.gaps += 1  # the same since token again: nothing is skipped

    async def _sync(self, user: int, params: dict[str, str], sink: Sink) -> dict[str, Any]:
        got = await self.poll.get(
            "/_matrix/client/v3/sync", params=params, headers=self._auth(user)
        )
        got.raise_for_status()
        body: dict[str, Any] = got.json()
        if "since" not in params:
            return body
        for room in body.get("rooms", {}).get("join", {}).values():
            timeline = room.get("timeline", {})
            self.gaps += bool(timeline.get("limited"))
            for event in timeline.get("events", ()):
                if event.get("type") == "m.room.message":
                    sink(event.get("content", {}).get("body", ""), user)
        return body

    async def send(self, user: int, room: int, body: str, key: str) -> None:
        sent = await _request(
            self.http,
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(self.rooms[room])}/send/m.room.message/{key}",
            json={"msgtype": "m.text", "body": body},
            headers=self._auth(user),
        )
        sent.raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()
        await self.poll.aclose()
