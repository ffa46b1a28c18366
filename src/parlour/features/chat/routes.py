"""JSON API of the chat: conversations, members, messages, reactions, reads, search, blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.chat.schemas import (
    BlockOut,
    ContactIn,
    ContactOut,
    ConversationIn,
    ConversationOut,
    ConversationPatch,
    MemberOut,
    MemberPatch,
    MembersIn,
    MessageIn,
    MessageOut,
    MessagePatch,
    PresenceOut,
    ReadIn,
    UsageOut,
)
from parlour.features.chat.service import ConversationService, ConversationView
from parlour.features.chat.social import UsageQuery
from parlour.web.auth import ApiCaller, current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["chat"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]
MessageId = Annotated[int, Path(ge=1, le=2**62)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=80,
        description="Retrying with the same key never sends twice.",
    ),
]


def conversation_out(view: ConversationView) -> ConversationOut:
    c = view.conversation
    last = ConversationService.last_message_wire(view)
    return ConversationOut(
        id=c.id,
        kind=c.kind,
        name=c.name,
        created_at=c.created_at,
        role=view.member.role,
        unread=view.unread,
        read_message_id=view.member.read_message_id,
        members=[
            MemberOut(user_id=m.user_id, role=m.role, read_message_id=m.read_message_id)
            for m in view.members
        ],
        last_message=MessageOut(**last) if last else None,
        last_event_id=c.last_event_id,
    )


@router.get("/conversations", response_model=list[ConversationOut])
async def list_conversations(me: ApiCaller, c: Ctr) -> list[ConversationOut]:
    return [conversation_out(v) for v in await c.conversations.list_for(me)]


@router.post("/conversations", status_code=201, response_model=ConversationOut)
async def create_conversation(
    body: ConversationIn, me: Me, c: Ctr, response: Response
) -> ConversationOut:
    if body.kind == "direct":
        from parlour.core.errors import invalid

        if body.user_id is None:
            raise invalid("user_id", "Say whom to talk to.")
        conversation, created = await c.conversations.start_direct(me, body.user_id)
        if not created:
            response.status_code = 200
    else:
        conversation = await c.conversations.create(me, body.kind, body.name, body.member_ids)
    return conversation_out(await c.conversations.view(me, conversation.id))


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: str, me: ApiCaller, c: Ctr) -> ConversationOut:
    return conversation_out(await c.conversations.view(me, conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def rename_conversation(
    conversation_id: str, body: ConversationPatch, me: Me, c: Ctr
) -> ConversationOut:
    await c.conversations.rename(me, conversation_id, body.name)
    return conversation_out(await c.conversations.view(me, conversation_id))


@router.post("/conversations/{conversation_id}/members", status_code=204)
async def add_members(conversation_id: str, body: MembersIn, me: Me, c: Ctr) -> Response:
    await c.conversations.add_members(me, conversation_id, body.user_ids)
    return Response(status_code=204)


@router.patch("/conversations/{conversation_id}/members/{user_id}", status_code=204)
async def set_member_role(
    conversation_id: str, user_id: str, body: MemberPatch, me: Me, c: Ctr
) -> Response:
    await c.conversations.set_role(me, conversation_id, user_id, body.role)
    return Response(status_code=204)


@router.delete("/conversations/{conversation_id}/members/{user_id}", status_code=204)
async def remove_member(conversation_id: str, user_id: str, me: Me, c: Ctr) -> Response:
    await c.conversations.remove_member(me, conversation_id, user_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
async def history(
    conversation_id: str,
    me: ApiCaller,
    c: Ctr,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Older than this id.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return await c.messages.history(me, conversation_id, before, limit)


@router.post(
    "/conversations/{conversation_id}/messages", status_code=201, response_model=MessageOut
)
async def send_message(
    conversation_id: str,
    body: MessageIn,
    me: ApiCaller,
    c: Ctr,
    response: Response,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    sent = await c.messages.send(me, conversation_id, body.body, body.reply_to, idempotency_key)
    if not sent.created:
        response.status_code = 200
    return sent.message


@router.post("/conversations/{conversation_id}/read", status_code=204)
async def mark_read(conversation_id: str, body: ReadIn, me: Me, c: Ctr) -> Response:
    await c.messages.mark_read(me, conversation_id, body.message_id)
    return Response(status_code=204)


@router.patch("/messages/{message_id}", response_model=MessageOut)
async def edit_message(
    message_id: MessageId, body: MessagePatch, me: ApiCaller, c: Ctr
) -> dict[str, Any]:
    return await c.messages.edit(me, message_id, body.body)


@router.delete("/messages/{message_id}", response_model=MessageOut)
async def delete_message(message_id: MessageId, me: ApiCaller, c: Ctr) -> dict[str, Any]:
    return await c.messages.delete(me, message_id)


@router.put("/messages/{message_id}/reactions/{emoji}", response_model=MessageOut)
async def add_reaction(message_id: MessageId, emoji: str, me: Me, c: Ctr) -> dict[str, Any]:
    return await c.messages.react(me, message_id, emoji, on=True)


@router.delete("/messages/{message_id}/reactions/{emoji}", response_model=MessageOut)
async def remove_reaction(message_id: MessageId, emoji: str, me: Me, c: Ctr) -> dict[str, Any]:
    return await c.messages.react(me, message_id, emoji, on=False)


@router.get("/search", response_model=list[MessageOut])
async def search(
    me: Me, c: Ctr, q: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[dict[str, Any]]:
    return await c.messages.search(me, q)


@router.get("/me/blocks", response_model=list[BlockOut])
async def list_blocks(me: Me, c: Ctr) -> list[BlockOut]:
    return [
        BlockOut(user_id=b.blocked_id, created_at=b.created_at) for b in await c.social.blocks(me)
    ]


@router.put("/me/blocks/{user_id}", status_code=204)
async def block(user_id: str, me: Me, c: Ctr) -> Response:
    await c.social.block(me, user_id)
    return Response(status_code=204)


@router.delete("/me/blocks/{user_id}", status_code=204)
async def unblock(user_id: str, me: Me, c: Ctr) -> Response:
    await c.social.unblock(me, user_id)
    return Response(status_code=204)


@router.get("/me/contacts", response_model=list[ContactOut])
async def list_contacts(me: Me, c: Ctr) -> list[ContactOut]:
    return [
        ContactOut(user_id=x.contact_id, nickname=x.nickname, created_at=x.created_at)
        for x in await c.social.contacts(me)
    ]


@router.put("/me/contacts/{user_id}", response_model=ContactOut)
async def save_contact(user_id: str, body: ContactIn, me: Me, c: Ctr) -> ContactOut:
    row = await c.social.save_contact(me, user_id, body.nickname)
    return ContactOut(user_id=row.contact_id, nickname=row.nickname, created_at=row.created_at)


@router.delete("/me/contacts/{user_id}", status_code=204)
async def remove_contact(user_id: str, me: Me, c: Ctr) -> Response:
    await c.social.remove_contact(me, user_id)
    return Response(status_code=204)


@router.get("/presence", response_model=PresenceOut)
async def presence(
    me: Me, c: Ctr, user_id: Annotated[list[str], Query(max_length=500)]
) -> PresenceOut:
    return PresenceOut(online=sorted(await c.stream.online(me, user_id)))


@router.get("/orgs/{org_id}/usage/messages", response_model=list[UsageOut])
async def message_usage(
    org_id: str,
    me: ApiCaller,
    c: Ctr,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[UsageOut]:
    rows = await c.social.usage(me, org_id, UsageQuery(since, until, after_id, limit))
    return [
        UsageOut(
            id=r.id,
            sender_id=r.sender_id,
            conversation_id=r.conversation_id,
            recipients=r.recipients,
            status=r.status,
            size_bytes=r.size_bytes,
            created_at=r.created_at,
        )
        for r in rows
    ]
