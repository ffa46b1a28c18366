"""Queries of the chat: memberships, messages, reactions, events, blocks. Stores never commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.chat.models import (
    Block,
    Contact,
    Conversation,
    Event,
    Member,
    Message,
    Reaction,
)


async def membership(session: AsyncSession, conversation_id: str, user_id: str) -> Member | None:
    return await session.get(Member, (conversation_id, user_id))


async def current_members(session: AsyncSession, conversation_id: str) -> list[Member]:
    rows = await session.scalars(
        select(Member).where(
            Member.conversation_id == conversation_id, Member.left_event_id.is_(None)
        )
    )
    return list(rows)


async def conversation_with_members(
    session: AsyncSession, conversation_id: str
) -> tuple[Conversation | None, dict[str, str]]:
    """The conversation and its current members' roles by user id, in one round trip."""
    rows = await session.execute(
        select(Conversation, Member.user_id, Member.role)
        .join(
            Member,
            and_(Member.conversation_id == Conversation.id, Member.left_event_id.is_(None)),
        )
        .where(Conversation.id == conversation_id)
    )
    found = list(rows)
    if not found:
        return None, {}
    return found[0][0], {user_id: role for _conversation, user_id, role in found}


async def direct_between(session: AsyncSession, key: str) -> Conversation | None:
    return await session.scalar(select(Conversation).where(Conversation.direct_key == key))


async def conversations_of(
    session: AsyncSession, user_id: str
) -> list[tuple[Conversation, Member]]:
    rows = await session.execute(
        select(Conversation, Member)
        .join(Member, Member.conversation_id == Conversation.id)
        .where(Member.user_id == user_id, Member.left_event_id.is_(None))
        .order_by(Conversation.last_event_id.desc())
    )
    return [(c, m) for c, m in rows]


async def unread_counts(session: AsyncSession, user_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .join(
            Member,
            and_(Member.conversation_id == Message.conversation_id, Member.user_id == user_id),
        )
        .where(
            Member.left_event_id.is_(None),
            Message.id > Member.read_message_id,
            Message.deleted_at.is_(None),
            or_(Message.sender_id.is_(None), Message.sender_id != user_id),
        )
        .group_by(Message.conversation_id)
    )
    return {conversation_id: count for conversation_id, count in rows}


async def last_messages(
    session: AsyncSession, conversation_ids: Sequence[str]
) -> dict[str, Message]:
    if not conversation_ids:
        return {}
    newest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids))
        .group_by(Message.conversation_id)
    )
    rows = await session.scalars(select(Message).where(Message.id.in_(newest)))
    return {m.conversation_id: m for m in rows}


async def messages_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Message]:
    if not ids:
        return {}
    rows = await session.scalars(select(Message).where(Message.id.in_(ids)))
    return {m.id: m for m in rows}


async def reactions_for(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Reaction]]:
    out: dict[int, list[Reaction]] = {}
    if not ids:
        return out
    rows = await session.scalars(
        select(Reaction).where(Reaction.message_id.in_(ids)).order_by(Reaction.created_at)
    )
    for reaction in rows:
        out.setdefault(reaction.message_id, []).append(reaction)
    return out


async def history(
    session: AsyncSession, conversation_id: str, before: int | None, after: int, limit: int
) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id, Message.id > after)
    if before is not None:
        query = query.where(Message.id < before)
    rows = await session.scalars(query.order_by(Message.id.desc()).limit(limit))
    return list(rows)


async def by_idempotency(session: AsyncSession, sender_id: str, key: str) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.sender_id == sender_id, Message.idempotency_key == key)
    )


async def visible_events(
    session: AsyncSession, user_id: str, since: int, limit: int
) -> list[Event]:
    """Events after ``since`` that this user may see: their own, and their conversations'
    during the time they were a member."""
    in_conversation = and_(
        Event.conversation_id == Member.conversation_id,
        Member.user_id == user_id,
        Event.id >= Member.joined_event_id,
        or_(Member.left_event_id.is_(None), Event.id <= Member.left_event_id),
    )
    mine = select(Event.id).where(Event.user_id == user_id, Event.id > since)
    shared = (
        select(Event.id)
        .join(Member, in_conversation)
        .where(Event.id > since, Event.user_id.is_(None))
    )
    ids = mine.union(shared).subquery()
    rows = await session.scalars(
        select(Event).where(Event.id.in_(select(ids.c.id))).order_by(Event.id).limit(limit)
    )
    return list(rows)


async def events_after(session: AsyncSession, after: int, limit: int) -> list[Event]:
    rows = await session.scalars(
        select(Event).where(Event.id > after).order_by(Event.id).limit(limit)
    )
    return list(rows)


async def max_event_id(session: AsyncSession) -> int:
    return await session.scalar(select(func.max(Event.id))) or 0


async def is_blocked(session: AsyncSession, blocker_id: str, blocked_id: str) -> bool:
    return await session.get(Block, (blocker_id, blocked_id)) is not None


async def blockers_among(
    session: AsyncSession, sender_id: str, user_ids: Sequence[str]
) -> set[str]:
    """Which of these users blocked the sender."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Block.blocker_id).where(
            Block.blocked_id == sender_id, Block.blocker_id.in_(user_ids)
        )
    )
    return set(rows)


async def blocks_of(session: AsyncSession, user_id: str) -> list[Block]:
    return list(await session.scalars(select(Block).where(Block.blocker_id == user_id)))


async def contacts_of(session: AsyncSession, user_id: str) -> list[Contact]:
    return list(await session.scalars(select(Contact).where(Contact.owner_id == user_id)))
