"""The Python SDK (sdk/, `parlour_sdk`) against the API it wraps.

1. Its endpoint table agrees with the app's live OpenAPI document (`parlour_sdk.contract`:
   paths, methods, the request members, query parameters and headers it sends, the response
   members it reads with their types and nullability). Mutated copies of the document prove
   the check fails on drift.
2. End to end over a real loopback server: a personal token, messages sent with the sync and
   the async client, the stream resumed across a forced network drop, each message once.
3. Webhook verification, against signatures made by a separate implementation in this file.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import hmac
import json
import typing
from collections.abc import Callable
from typing import Any

import httpx
import parlour_sdk
import pytest
from fastapi import FastAPI
from parlour_sdk import AsyncClient, Client, Conversation, Event, webhooks
from parlour_sdk.contract import disagreements
from parlour_sdk.endpoints import SEND_MESSAGE, Endpoint, read_response
from parlour_sdk.stream import Resume

from parlour.app import create_app
from parlour.container import Container
from parlour.settings import Settings
from tests.support.live import serving
from tests.support.world import Person, instance_owner, member, token_for

Schema = dict[str, Any]


# --- 1. the endpoint table against the OpenAPI document ----------------------------------


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    """The document the app serves; building it needs no database, so it is made once."""
    data = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data, secret_key="openapi-" + "k" * 40))
    document: Schema = app.openapi()
    return document


@pytest.mark.promise("P-API-1")
def test_the_sdk_and_the_live_openapi_document_agree(openapi: Schema) -> None:
    assert disagreements(openapi) == []


def _drop_property(name: str, member: str) -> Callable[[Schema], None]:
    return lambda doc: doc["components"]["schemas"][name]["properties"].pop(member)


def _rename_path(old: str, new: str) -> Callable[[Schema], None]:
    return lambda doc: doc["paths"].__setitem__(new, doc["paths"].pop(old))


def _require_new_member(doc: Schema) -> None:
    schema = doc["components"]["schemas"]["MessageIn"]
    schema["properties"]["priority"] = {"type": "integer"}
    schema["required"].append("priority")


def _nullable(name: str, member: str) -> Callable[[Schema], None]:
    def mutate(doc: Schema) -> None:
        prop = doc["components"]["schemas"][name]["properties"][member]
        doc["components"]["schemas"][name]["properties"][member] = {
            "anyOf": [prop, {"type": "null"}]
        }

    return mutate


def _retype(name: str, member: str, json_type: str) -> Callable[[Schema], None]:
    return lambda doc: doc["components"]["schemas"][name]["properties"][member].update(
        type=json_type
    )


def _drop_idempotency_header(doc: Schema) -> None:
    operation = doc["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    operation["parameters"] = [p for p in operation["parameters"] if p["in"] != "header"]


MUTATIONS: dict[str, tuple[Callable[[Schema], None], str]] = {
    "a response member the SDK reads is gone": (
        _drop_property("MessageOut", "body"),
        "Message.body is not in the API's response schema",
    ),
    "a nested response member is gone": (
        _drop_property("ReactionOut", "user_ids"),
        "Reaction.user_ids is not in the API's response schema",
    ),
    "a path moved": (_rename_path("/api/v1/me", "/api/v1/users/me"), "GET /api/v1/me is not"),
    "a request member the SDK sends is gone": (
        _drop_property("MessageIn", "reply_to"),
        "'reply_to' is not in the API's request schema",
    ),
    "the API requires a new request member": (_require_new_member, "'priority'"),
    "a member became nullable": (
        _nullable("ConversationOut", "last_event_id"),
        "Conversation.last_event_id can be null",
    ),
    "a member changed type": (
        _retype("CallOut", "duration_seconds", "string"),
        "Call.duration_seconds is string in the API",
    ),
    "the Idempotency-Key header is gone": (_drop_idempotency_header, "'Idempotency-Key'"),
}


@pytest.mark.promise("P-API-1")
@pytest.mark.parametrize("change", list(MUTATIONS))
def test_the_check_fails_when_the_api_drifts_from_the_sdk(openapi: Schema, change: str) -> None:
    mutate, expected = MUTATIONS[change]
    drifted = copy.deepcopy(openapi)
    mutate(drifted)
    problems = disagreements(drifted)
    assert any(expected in p for p in problems), problems
    assert disagreements(openapi) == []  # the live document itself was not touched


def test_the_sdk_cannot_send_what_its_table_does_not_declare() -> None:
    with pytest.raises(ValueError, match="priority"):
        SEND_MESSAGE.call({"conversation_id": "c"}, body={"body": "hi", "priority": 1})


# --- 2. end to end over a real loopback server --------------------------------------------


class Proxy:
    """A TCP relay on loopback between the SDK and the server, whose links can be cut."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._links: set[asyncio.StreamWriter] = set()
        self.down = False
        self.sessions = 0  # connections relayed to the server
        self.address = ""

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        """Drops every open link at once, as a broken network would (no close frames)."""
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self.sessions += 1
        self._links.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


@dataclasses.dataclass
class World:
    sender: Person
    listener: Person
    sender_token: str
    listener_token: str
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@pytest.fixture
async def world(app: FastAPI, container: Container) -> typing.AsyncIterator[World]:
    sender = await instance_owner(app, container)
    listener = await member(app, sender)
    tokens = await token_for(sender), await token_for(listener)
    async with serving(app) as address:
        yield World(sender, listener, *tokens, address)


async def _chat(world: World) -> Conversation:
    """The conversation, made before the listener connects: these tests are about resuming,
    not about joining a conversation while connected."""
    async with AsyncClient(world.url, world.listener_token) as listener:
        return await listener.create_direct(world.sender.id)


class Inbox:
    """Collects the messages a listener is handed, until the message whose text is `end`."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.message_ids: list[int] = []
        self.event_ids: list[int] = []
        self.got_two = asyncio.Event()

    def take(self, event: Event) -> bool:
        """Records one event; True once the last message has arrived."""
        assert event.id is not None, event
        self.event_ids.append(event.id)
        message = event.message
        if event.type != "message.created" or message is None:
            return False
        self.message_ids.append(message.id)
        if len(self.message_ids) == 2:
            self.loop.call_soon_threadsafe(self.got_two.set)
        return message.body == "end"


async def _converse(
    world: World, chat_id: str, proxy: Proxy, inbox: Inbox, listening: asyncio.Future[Any]
) -> None:
    """Sends with both clients; cuts the listener's network after two messages, sends two more
    while it is away, brings the network back, sends two more; every message arrives once."""
    with Client(world.url, world.sender_token) as blocking:
        async with AsyncClient(world.url, world.sender_token) as concurrent:

            async def both(first: str, second: str) -> list[int]:
                one = await asyncio.to_thread(blocking.send_message, chat_id, first)
                two = await concurrent.send_message(chat_id, second)
                return [one.id, two.id]

            sent = await both("one", "two")
            await asyncio.wait_for(inbox.got_two.wait(), 20)
            proxy.down = True
            proxy.cut()
            sent += await both("three", "four")
            proxy.down = False
            sent += await both("five", "end")
    await asyncio.wait_for(listening, 30)
    assert inbox.message_ids == sent
    assert inbox.event_ids == sorted(set(inbox.event_ids))
    assert proxy.sessions >= 2, "the listener never had to reconnect"


@pytest.mark.promise("P-API-1")
async def test_async_stream_resumes_across_a_network_drop_with_each_message_once(
    world: World,
) -> None:
    inbox, chat = Inbox(), await _chat(world)
    async with Proxy(world.address) as proxy:
        client = AsyncClient(f"http://{proxy.address}", world.listener_token)

        async def listen() -> None:
            async with client.stream(since=chat.last_event_id) as events:
                async for event in events:
                    if inbox.take(event):
                        return

        await _converse(world, chat.id, proxy, inbox, asyncio.ensure_future(listen()))
        await client.aclose()


@pytest.mark.promise("P-API-1")
async def test_sync_stream_resumes_across_a_network_drop_with_each_message_once(
    world: World,
) -> None:
    inbox, chat = Inbox(), await _chat(world)
    async with Proxy(world.address) as proxy:
        client = Client(f"http://{proxy.address}", world.listener_token)
        events = client.stream(since=chat.last_event_id)

        def listen() -> None:
            for event in events:
                if inbox.take(event):
                    return

        try:
            listening = asyncio.ensure_future(asyncio.to_thread(listen))
            await _converse(world, chat.id, proxy, inbox, listening)
        finally:  # ends the listening thread, even on a failure
            await asyncio.to_thread(events.close)  # blocking: it waits for the server's answer
            client.close()


@pytest.mark.promise("P-API-1")
async def test_the_sync_client_covers_people_conversations_messages_and_calls(
    world: World,
) -> None:
    def session() -> None:
        with Client(world.url, world.sender_token) as parlour:
            me = parlour.me()
            assert (me.id, me.email, me.role) == (world.sender.id, world.sender.email, "owner")
            assert {u.id for u in parlour.members(me.org_id)} == {me.id, world.listener.id}
            group = parlour.create_group("Launch", [world.listener.id])
            assert group.kind == "group" and {m.user_id for m in group.members} == {
                me.id,
                world.listener.id,
            }
            sent = [parlour.send_message(group.id, f"note {i}").id for i in range(5)]
            assert [m.id for m in parlour.iter_messages(group.id, page_size=2)] == sent[::-1]
            page = parlour.messages(group.id, before=sent[2], limit=10)
            assert [m.id for m in page] == sent[1::-1]
            edited = parlour.edit_message(sent[0], "**final**")
            assert (edited.body, edited.html, edited.edited) == (
                "**final**",
                "<strong>final</strong>",
                True,
            )
            gone = parlour.delete_message(sent[1])
            assert gone.deleted and gone.body is None
            assert [c.id for c in parlour.conversations()] == [group.id]
            assert parlour.conversation(group.id).last_message is not None
            assert parlour.calls(conversation_id=group.id) == []
            reply = parlour.send_message(group.id, "re", reply_to=sent[0])
            assert reply.reply_to == sent[0]

    await asyncio.to_thread(session)


@pytest.mark.promise("P-API-1")
async def test_the_async_client_raises_problem_details_as_exceptions(world: World) -> None:
    async with AsyncClient(world.url, world.sender_token) as parlour:
        with pytest.raises(parlour_sdk.NotFound) as absent:
            await parlour.send_message("no-such-conversation", "hello?")
        assert (absent.value.status, absent.value.code) == (404, "not_found")
        assert absent.value.detail
        chat = await parlour.create_direct(world.listener.id)
        with pytest.raises(parlour_sdk.InvalidRequest) as empty:
            await parlour.edit_message((await parlour.send_message(chat.id, "x")).id, "")
        assert empty.value.code == "validation_failed"
        assert [e.field for e in empty.value.errors] == ["body"]
    async with AsyncClient(world.url, "not-a-token") as stranger:
        with pytest.raises(parlour_sdk.Unauthenticated) as refused:
            await stranger.me()
        assert refused.value.code == "unauthenticated"
        with pytest.raises(parlour_sdk.Unauthenticated):
            await anext(stranger.stream())


async def test_a_sync_stream_with_a_bad_token_raises_rather_than_retrying(world: World) -> None:
    def listen() -> None:
        with Client(world.url, "not-a-token") as stranger, stranger.stream() as events:
            next(events)

    with pytest.raises(parlour_sdk.Unauthenticated):
        await asyncio.wait_for(asyncio.to_thread(listen), 10)


@pytest.mark.promise("P-API-1")
async def test_a_running_server_serves_the_document_the_sdk_agrees_with(world: World) -> None:
    async with httpx.AsyncClient(base_url=world.url) as http:
        document = (await http.get("/api/v1/openapi.json")).json()
    assert disagreements(document) == []


def test_the_stream_protocol_drops_repeats_and_backs_off_within_bounds() -> None:
    state = Resume(since=7, ephemeral=False, reconnect=True)
    assert state.on_frame('{"type":"hello","last_event_id":7,"device_id":"d"}') is None
    frames = [{"id": i, "type": "message.created", "data": {}} for i in (6, 7, 8, 8, 9)]
    handed = [state.on_frame(json.dumps(f)) for f in frames]
    assert [e.id for e in handed if e is not None] == [8, 9]
    assert state.on_frame('{"type":"typing","data":{"user_id":"u"}}') is None
    assert state.on_frame('{"type":"resync","last_event_id":12}') is None
    assert state.last_event_id == 12
    delays = [state.after_close(1006) for _ in range(2000)]
    assert all(d is not None and 0 < d <= 30 for d in delays)
    with pytest.raises(parlour_sdk.Forbidden):
        state.after_close(4403)


class LosesFirstAnswer(httpx.BaseTransport):
    """Delivers each request to the real server, but loses the first answer on the way back,
    as a dropped connection would."""

    def __init__(self) -> None:
        self.real = httpx.HTTPTransport()
        self.sent: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        response.read()
        self.sent.append(request.headers.get("Idempotency-Key"))
        if len(self.sent) == 1:
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response


@pytest.mark.promise("P-API-1")
async def test_a_send_whose_answer_is_lost_is_retried_and_stored_once(world: World) -> None:
    transport = LosesFirstAnswer()

    def send_once() -> tuple[int, list[int]]:
        with Client(world.url, world.sender_token) as parlour:
            chat = parlour.create_direct(world.listener.id)
        with Client(world.url, world.sender_token, transport=transport) as flaky:
            message = flaky.send_message(chat.id, "exactly once")
        with Client(world.url, world.sender_token) as parlour:
            return message.id, [m.id for m in parlour.messages(chat.id)]

    message_id, history = await asyncio.to_thread(send_once)
    assert history == [message_id]
    assert len(transport.sent) == 2 and transport.sent[0] == transport.sent[1] is not None


@pytest.mark.promise("P-API-1")
async def test_too_many_attempts_is_rate_limited_with_retry_after(world: World) -> None:
    """A real 429 from the server (wrong passwords at token creation) read by the SDK."""
    wrong = {"email": world.sender.email, "password": "not the password", "name": "x"}
    probe = Endpoint("tokens", "POST", "/api/v1/auth/tokens", parlour_sdk.User)
    async with httpx.AsyncClient(base_url=world.url) as http:
        for _ in range(10):
            response = await http.post("/api/v1/auth/tokens", json=wrong)
            if response.status_code == 429:
                break
    with pytest.raises(parlour_sdk.RateLimited) as limited:
        read_response(probe.call(), response)
    assert limited.value.code == "too_many_attempts"
    assert limited.value.retry_after is not None and limited.value.retry_after > 0


# --- 3. webhook verification --------------------------------------------------------------

SECRET = "whsec_" + "k" * 43
OLD_SECRET = "whsec_" + "o" * 43
BODY = b'{"id":"evt_1","type":"message.created","created_at":"2026-12-04T12:00:00Z","data":{}}'
NOW = 1_800_000_000


def signed(secret: str, delivery: str, stamp: int, body: bytes) -> str:
    """The shared signing rule, written out independently of the SDK."""
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
    mac.update(str(stamp).encode("ascii") + b"." + delivery.encode("utf-8") + b"." + body)
    return "v1=" + mac.hexdigest()


def delivery(stamp: int = NOW, signature: str | None = None, **drop: bool) -> dict[str, str]:
    headers = {
        "Parlour-Webhook-Id": "dlv_42",
        "Parlour-Webhook-Timestamp": str(stamp),
        "Parlour-Signature": signature or signed(SECRET, "dlv_42", stamp, BODY),
    }
    return {k: v for k, v in headers.items() if not drop.get(k.replace("-", "_").lower())}


@pytest.mark.promise("P-API-1")
def test_an_authentic_fresh_delivery_gives_its_id_for_replay_protection() -> None:
    assert webhooks.verify(SECRET, delivery(), BODY, now=NOW) == "dlv_42"
    lower = {k.lower(): v for k, v in delivery().items()}
    assert webhooks.verify(SECRET, lower, BODY.decode(), now=NOW + 300) == "dlv_42"


def test_during_rotation_either_signature_is_enough() -> None:
    both = f"{signed(OLD_SECRET, 'dlv_42', NOW, BODY)} {signed(SECRET, 'dlv_42', NOW, BODY)}"
    for secret in (SECRET, OLD_SECRET):
        assert webhooks.verify(secret, delivery(signature=both), BODY, now=NOW) == "dlv_42"
    with pytest.raises(webhooks.WebhookVerificationError) as other:
        webhooks.verify("whsec_" + "x" * 43, delivery(signature=both), BODY, now=NOW)
    assert other.value.reason == "bad_signature"


REFUSALS: dict[str, tuple[dict[str, str], bytes, str]] = {
    "a changed body": (delivery(), BODY.replace(b"evt_1", b"evt_2"), "bad_signature"),
    "another delivery's id": (
        {**delivery(), "Parlour-Webhook-Id": "dlv_43"},
        BODY,
        "bad_signature",
    ),
    "a signature by another secret": (
        delivery(signature=signed(OLD_SECRET, "dlv_42", NOW, BODY)),
        BODY,
        "bad_signature",
    ),
    "a re-dated timestamp": (
        {**delivery(), "Parlour-Webhook-Timestamp": str(NOW + 1)},
        BODY,
        "bad_signature",
    ),
    "no id": (delivery(parlour_webhook_id=True), BODY, "missing_header"),
    "no timestamp": (delivery(parlour_webhook_timestamp=True), BODY, "missing_header"),
    "no signature": (delivery(parlour_signature=True), BODY, "missing_header"),
    "a timestamp that is not a number": (
        {**delivery(), "Parlour-Webhook-Timestamp": "yesterday"},
        BODY,
        "malformed_header",
    ),
    "no v1 signature": (delivery(signature="v0=abc"), BODY, "malformed_header"),
    "a replay six minutes later": (delivery(stamp=NOW - 301), BODY, "timestamp_too_old"),
    "a timestamp from the future": (delivery(stamp=NOW + 301), BODY, "timestamp_too_new"),
}


@pytest.mark.promise("P-API-1")
@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_delivery_that_is_not_authentic_or_fresh_is_refused_with_a_reason(case: str) -> None:
    headers, body, reason = REFUSALS[case]
    with pytest.raises(webhooks.WebhookVerificationError) as refused:
        webhooks.verify(SECRET, headers, body, now=NOW)
    assert refused.value.reason == reason
    assert str(refused.value)


def test_the_tolerance_is_the_receivers_choice() -> None:
    old = delivery(stamp=NOW - 3600)
    assert webhooks.verify(SECRET, old, BODY, tolerance=7200, now=NOW) == "dlv_42"
    with pytest.raises(webhooks.WebhookVerificationError, match="60 s"):
        webhooks.verify(SECRET, delivery(stamp=NOW - 61), BODY, tolerance=60, now=NOW)


@pytest.mark.promise("P-API-2")
def test_the_sdk_verifies_what_the_server_signs_and_the_server_what_the_sdk_would() -> None:
    """The two implementations of the webhook signature agree, rotation included."""
    from datetime import UTC, datetime

    from parlour.features.webhooks.signing import new_secret, sign_headers, verify_signature

    old, new = new_secret(), new_secret()
    body = b'{"id":"d1","type":"message.created","data":{}}'
    at = 1_800_000_000
    headers = sign_headers([new, old], "delivery-1", at, body)
    for secret in (new, old):
        assert webhooks.verify(secret, headers, body, now=at + 5) == "delivery-1"
        verify_signature(secret, headers, body, datetime.fromtimestamp(at + 5, UTC))
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(new_secret(), headers, body, now=at + 5)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(new, headers, body + b" ", now=at + 5)
