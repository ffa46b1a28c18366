"""Conversations, their members, messages, reactions, the event log, blocks and usage records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import (
    Erasure,
    Retention,
    not_personal,
    personal,
    subject_table,
)
from parlour.db.base import Base, id_column

# SQLite only autoincrements a plain INTEGER PRIMARY KEY.
SeqId = BigInteger().with_variant(Integer(), "sqlite")

CONVERSATION = ("provide_service",)
STREAM_WINDOW = Retention("the event was written", days=30, column="created_at")
MESSAGE_LIFE = Retention("the message is deleted by its sender or its conversation ends")
USAGE_RETENTION = Retention("the message was sent", days=400, column="created_at")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("direct_key", name="uq_conversations_direct_key"),
        {"info": subject_table("user", "created_by", shared_via="id")},
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation the conversation belongs to"),
    )
    kind: Mapped[str] = mapped_column(String(12), info=not_personal("direct, group or broadcast"))
    name: Mapped[str | None] = mapped_column(
        String(120),
        info=personal(
            "user.content.conversation_name",
            *CONVERSATION,
            erasure=Erasure.KEEP,
            shared=True,
            description="name a member gave a group; kept for the other members",
        ),
    )
    direct_key: Mapped[str | None] = mapped_column(
        String(65),
        info=personal(
            "user.unique_id",
            *CONVERSATION,
            erasure=Erasure.PSEUDONYMISE,
            description="the two user ids of a direct conversation, so there is one per pair",
        ),
    )
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal("user.unique_id", *CONVERSATION, erasure=Erasure.NULL, shared=True),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was started"))
    last_event_id: Mapped[int] = mapped_column(
        BigInteger, default=0, info=not_personal("newest event, to sort the list")
    )


class Member(Base):
    __tablename__ = "conversation_members"
    __table_args__ = (
        Index("ix_conversation_members_user", "user_id", "conversation_id"),
        {
            "info": subject_table(
                "user", "user_id", grants="conversation_id", shared_via="conversation_id"
            )
        },
    )

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal("the conversation"),
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user.unique_id", *CONVERSATION, shared=True),
    )
    role: Mapped[str] = mapped_column(
        String(12),
        info=personal(
            "user.account.role", *CONVERSATION, shared=True, description="admin or member"
        ),
    )
    joined_event_id: Mapped[int] = mapped_column(
        BigInteger, info=personal("user.account.metadata", *CONVERSATION, shared=True)
    )
    left_event_id: Mapped[int | None] = mapped_column(
        BigInteger, info=personal("user.account.metadata", *CONVERSATION, shared=True)
    )
    read_message_id: Mapped[int] = mapped_column(
        BigInteger,
        default=0,
        info=personal(
            "user.behavior.read_receipt",
            *CONVERSATION,
            shared=True,
            description="the newest message you have read, shown to the other members",
        ),
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        UniqueConstraint("sender_id", "idempotency_key", name="uq_messages_idempotency"),
        {"info": subject_table("user", "sender_id", shared_via="conversation_id")},
    )

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("sequence number")
    )
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), info=not_personal("the conversation")
    )
    sender_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal("user.unique_id", *CONVERSATION, erasure=Erasure.PSEUDONYMISE, shared=True),
    )
    body: Mapped[str | None] = mapped_column(
        Text,
        info=personal(
            "user.communications.message",
            *CONVERSATION,
            retention=MESSAGE_LIFE,
            erasure=Erasure.NULL,
            shared=True,
            description="what you wrote; gone for everyone when you delete it",
        ),
    )
    reply_to_id: Mapped[int | None] = mapped_column(
        BigInteger, info=not_personal("the message replied to")
    )
    idempotency_key: Mapped[str | None] = mapped_column(
        String(80), info=not_personal("client's retry key")
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal(
            "user.communications.metadata", *CONVERSATION, erasure=Erasure.KEEP, shared=True
        )
    )
    edited_at: Mapped[datetime | None] = mapped_column(
        info=personal(
            "user.communications.metadata", *CONVERSATION, erasure=Erasure.KEEP, shared=True
        )
    )
    deleted_at: Mapped[datetime | None] = mapped_column(
        info=personal(
            "user.communications.metadata", *CONVERSATION, erasure=Erasure.KEEP, shared=True
        )
    )


class Reaction(Base):
    __tablename__ = "reactions"
    __table_args__ = {
        "info": subject_table("user", "user_id", shared_via="message_id.conversation_id")
    }

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal("the message reacted to"),
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user.unique_id", *CONVERSATION, shared=True),
    )
    emoji: Mapped[str] = mapped_column(
        String(32),
        primary_key=True,
        info=personal("user.communications.reaction", *CONVERSATION, shared=True),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.communications.metadata", *CONVERSATION, shared=True)
    )


class Event(Base):
    """What happened, in commit order: the stream replays these to clients that come back.

    Rows carry references, never content: a deleted message is gone from the replay too.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_conversation", "conversation_id", "id"),
        Index("ix_events_user", "user_id", "id"),
        # Ids are never reused, even after the newest event is deleted (migration 0012).
        {"info": subject_table("user", "actor_id"), "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("event sequence number")
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), info=not_personal("where it happened")
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        info=personal(
            "user.unique_id", *CONVERSATION, retention=STREAM_WINDOW, description="whom it is for"
        ),
    )
    actor_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal(
            "user.unique_id", *CONVERSATION, retention=STREAM_WINDOW, erasure=Erasure.NULL
        ),
    )
    type: Mapped[str] = mapped_column(String(40), info=not_personal("what kind of event"))
    ref: Mapped[str | None] = mapped_column(
        String(64), info=not_personal("id of the message or member concerned")
    )
    data: Mapped[str | None] = mapped_column(
        Text,
        info=personal(
            "user.communications.metadata",
            *CONVERSATION,
            retention=STREAM_WINDOW,
            description="small facts such as an emoji or a read marker; never message text",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(index=True, info=not_personal("when"))


class Block(Base):
    __tablename__ = "blocks"
    __table_args__ = {"info": subject_table("user", "blocker_id")}

    blocker_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user.unique_id", *CONVERSATION),
    )
    blocked_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
        info=personal(
            "user.unique_id", *CONVERSATION, description="someone you blocked (never told to them)"
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", *CONVERSATION)
    )


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = {"info": subject_table("user", "owner_id", about="contact_id")}

    owner_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user.unique_id", *CONVERSATION),
    )
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal(
            "user.unique_id", *CONVERSATION, shared=True, description="a colleague you saved"
        ),
    )
    nickname: Mapped[str | None] = mapped_column(
        String(120),
        info=personal(
            "user.contact.nickname",
            *CONVERSATION,
            shared=True,
            description="what you call them; about them too, so in their export (P-CON-2)",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", *CONVERSATION)
    )


class MessageUsage(Base):
    """Who sent how much to whom, when, and whether it was delivered: never the content."""

    __tablename__ = "message_usage"
    __table_args__ = (
        Index("ix_message_usage_org_time", "org_id", "created_at"),
        {"info": subject_table("user", "sender_id")},
    )

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("sequence number")
    )
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), info=not_personal("the organisation")
    )
    sender_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal(
            "user.unique_id",
            "organisation_admin",
            retention=USAGE_RETENTION,
            erasure=Erasure.PSEUDONYMISE,
            description="source of the message",
        ),
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"),
        info=not_personal("destination conversation"),
    )
    recipients: Mapped[int] = mapped_column(
        Integer, info=not_personal("how many members it went to")
    )
    status: Mapped[str] = mapped_column(
        String(16),
        info=personal(
            "user.communications.metadata",
            "organisation_admin",
            retention=USAGE_RETENTION,
            description="delivered, or not delivered (blocked)",
        ),
    )
    size_bytes: Mapped[int] = mapped_column(
        Integer,
        info=personal(
            "user.communications.metadata", "organisation_admin", retention=USAGE_RETENTION
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        index=True,
        info=personal(
            "user.communications.metadata", "organisation_admin", retention=USAGE_RETENTION
        ),
    )
