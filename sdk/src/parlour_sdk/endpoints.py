"""The one definition of the endpoints the SDK calls, shared by `Client` and `AsyncClient`.

`ENDPOINTS` is the table: method, path, the request members and query parameters the SDK may
send, and the model it reads from the answer. The functions below it build an `Operation` (a
request ready to send, with the parser of its answer) from a method's arguments; the sync and
async clients only differ in how they send it. The contract test checks `ENDPOINTS` against the
server's OpenAPI document, and `Endpoint.call` refuses to send anything the table does not
declare, so the table cannot drift from what the SDK really does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx

from parlour_sdk._decode import decode
from parlour_sdk.errors import ProtocolError, api_error
from parlour_sdk.models import Call, Conversation, Message, User

T = TypeVar("T")
R = TypeVar("R")
IDEMPOTENCY_KEY = "Idempotency-Key"


@dataclass(frozen=True)
class Operation(Generic[R]):
    """One request, ready to send, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], R]
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_safe: bool = False  # repeating it after a network failure cannot do anything twice


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    name: str
    method: str
    path: str
    model: type[Any]
    many: bool = False
    body: tuple[str, ...] = ()  # request members the SDK may send
    query: tuple[str, ...] = ()  # query parameters the SDK may send
    headers: tuple[str, ...] = ()  # request headers the SDK sends besides authorisation

    def call(
        self,
        path: Mapping[str, str | int] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Operation[R]:
        self._declared(body, self.body, "request member")
        self._declared(query, self.query, "query parameter")
        self._declared(headers, self.headers, "header")
        sent_headers = dict(headers or {})
        return Operation(
            method=self.method,
            path=self.path.format(**{k: quote(str(v), safe="") for k, v in (path or {}).items()}),
            parse=self.parse,
            params={k: _query_value(v) for k, v in (query or {}).items() if v is not None},
            json=dict(body) if body is not None else None,
            headers=sent_headers,
            retry_safe=self.method == "GET" or IDEMPOTENCY_KEY in sent_headers,
        )

    def parse(self, value: Any) -> R:
        if not self.many:
            return cast(R, decode(self.model, value))
        if not isinstance(value, list):
            raise ProtocolError(f"{self.name}: expected a list, got {type(value).__name__}")
        return cast(R, [decode(self.model, item) for item in value])

    def _declared(
        self, given: Mapping[str, Any] | None, allowed: tuple[str, ...], what: str
    ) -> None:
        unknown = sorted(set(given or ()) - set(allowed))
        if unknown:  # a programming error in this SDK, caught by its tests
            raise ValueError(f"{self.name}: {what} not in the endpoint table: {unknown}")


def _query_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def one(name: str, method: str, path: str, model: type[T], **extra: Any) -> Endpoint[T]:
    return Endpoint(name, method, path, model, False, **extra)


def many(name: str, method: str, path: str, model: type[T], **extra: Any) -> Endpoint[list[T]]:
    return Endpoint(name, method, path, model, True, **extra)


V1 = "/api/v1"
ME = one("me", "GET", f"{V1}/me", User)
MEMBERS = many("members", "GET", f"{V1}/orgs/{{org_id}}/members", User)
CONVERSATIONS = many("conversations", "GET", f"{V1}/conversations", Conversation)
CONVERSATION = one("conversation", "GET", f"{V1}/conversations/{{conversation_id}}", Conversation)
CREATE_CONVERSATION = one(
    "create_conversation",
    "POST",
    f"{V1}/conversations",
    Conversation,
    body=("kind", "user_id", "name", "member_ids"),
)
MESSAGES = many(
    "messages",
    "GET",
    f"{V1}/conversations/{{conversation_id}}/messages",
    Message,
    query=("before", "limit"),
)
SEND_MESSAGE = one(
    "send_message",
    "POST",
    f"{V1}/conversations/{{conversation_id}}/messages",
    Message,
    body=("body", "reply_to"),
    headers=(IDEMPOTENCY_KEY,),
)
EDIT_MESSAGE = one(
    "edit_message", "PATCH", f"{V1}/messages/{{message_id}}", Message, body=("body",)
)
DELETE_MESSAGE = one("delete_message", "DELETE", f"{V1}/messages/{{message_id}}", Message)
CALLS = many("calls", "GET", f"{V1}/calls", Call, query=("conversation_id", "before", "limit"))
CALL = one("call", "GET", f"{V1}/calls/{{call_id}}", Call)

ENDPOINTS: tuple[Endpoint[Any], ...] = (
    ME,
    MEMBERS,
    CONVERSATIONS,
    CONVERSATION,
    CREATE_CONVERSATION,
    MESSAGES,
    SEND_MESSAGE,
    EDIT_MESSAGE,
    DELETE_MESSAGE,
    CALLS,
    CALL,
)


def me() -> Operation[User]:
    """The person the token or API key acts for."""
    return ME.call()


def members(org_id: str) -> Operation[list[User]]:
    """The members of an organisation."""
    return MEMBERS.call({"org_id": org_id})


def conversations() -> Operation[list[Conversation]]:
    """The conversations the caller is a member of."""
    return CONVERSATIONS.call()


def conversation(conversation_id: str) -> Operation[Conversation]:
    return CONVERSATION.call({"conversation_id": conversation_id})


def create_direct(user_id: str) -> Operation[Conversation]:
    """The direct conversation with one person: created, or the existing one."""
    return CREATE_CONVERSATION.call(body={"kind": "direct", "user_id": user_id})


def create_group(
    name: str, member_ids: Sequence[str] = (), *, broadcast: bool = False
) -> Operation[Conversation]:
    """A new group (or broadcast list) with the caller as its admin."""
    kind = "broadcast" if broadcast else "group"
    return CREATE_CONVERSATION.call(
        body={"kind": kind, "name": name, "member_ids": list(member_ids)}
    )


def messages(
    conversation_id: str, *, before: int | None = None, limit: int = 50
) -> Operation[list[Message]]:
    """One page of history, newest first: messages older than `before` (a message id)."""
    return MESSAGES.call(
        {"conversation_id": conversation_id}, query={"before": before, "limit": limit}
    )


def send_message(
    conversation_id: str,
    body: str,
    *,
    reply_to: int | None = None,
    idempotency_key: str | None = None,
) -> Operation[Message]:
    """Sends a message. It carries an Idempotency-Key (a fresh one unless given), so the SDK's
    retries after a network failure, or yours with the same key, never send it twice."""
    payload: dict[str, Any] = {"body": body}
    if reply_to is not None:
        payload["reply_to"] = reply_to
    key = idempotency_key or uuid.uuid4().hex
    return SEND_MESSAGE.call(
        {"conversation_id": conversation_id}, body=payload, headers={IDEMPOTENCY_KEY: key}
    )


def edit_message(message_id: int, body: str) -> Operation[Message]:
    return EDIT_MESSAGE.call({"message_id": message_id}, body={"body": body})


def delete_message(message_id: int) -> Operation[Message]:
    """Deletes a message for everyone; the answer shows it deleted, without its text."""
    return DELETE_MESSAGE.call({"message_id": message_id})


def calls(
    *, conversation_id: str | None = None, before: datetime | None = None, limit: int = 50
) -> Operation[list[Call]]:
    """Call history, newest first: calls started before `before`."""
    query = {"conversation_id": conversation_id, "before": before, "limit": limit}
    return CALLS.call(query=query)


def call(call_id: str) -> Operation[Call]:
    return CALL.call({"call_id": call_id})


def older_than(page: Sequence[Message]) -> int | None:
    """The `before` of the next page of history, or None when this page was the last."""
    return min(m.id for m in page) if page else None


def read_response(op: Operation[R], response: httpx.Response) -> R:
    """The parsed answer, or the `ApiError` its problem details describe."""
    try:
        payload = response.json() if response.content else None
    except ValueError:
        payload = None
    if response.status_code >= 400:
        raise api_error(response.status_code, payload, response.headers)
    if payload is None and response.content:
        raise ProtocolError(f"{op.method} {op.path}: the answer is not JSON")
    return op.parse(payload)
