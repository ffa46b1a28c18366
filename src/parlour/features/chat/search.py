"""Full-text search over the messages a user can read: SQLite FTS5 or PostgreSQL text search.

SQLite keeps a separate index table that we update with each write and clear on deletion;
PostgreSQL indexes the message text itself, so a deleted text leaves nothing behind.
"""

from __future__ import annotations

import re

from sqlalchemy import BigInteger, and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.features.chat.models import Member, Message

FTS_TABLE = "messages_fts"
_TERMS = re.compile(r"\w+", re.UNICODE)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def index_txn(session: AsyncSession, message: Message, new: bool = False) -> None:
    """Keeps the SQLite index in step with a message that was written, edited or deleted."""
    if _dialect(session) != "sqlite":
        return
    if not new:  # a message just written has no entry yet
        await session.execute(
            text("DELETE FROM messages_fts WHERE rowid = :id"), {"id": message.id}
        )
    if message.body is not None and message.deleted_at is None:
        await session.execute(
            text("INSERT INTO messages_fts(rowid, body) VALUES (:id, :body)"),
            {"id": message.id, "body": message.body},
        )


def fts5_query(query: str) -> str | None:
    """Each word must appear; the last may be a prefix. User text never reaches FTS syntax."""
    terms = _TERMS.findall(query)
    if not terms:
        return None
    quoted = [f'"{t}"' for t in terms[:12]]
    quoted[-1] += "*"
    return " ".join(quoted)


async def find_txn(session: AsyncSession, user_id: str, query: str, limit: int) -> list[Message]:
    readable = and_(
        Member.conversation_id == Message.conversation_id,
        Member.user_id == user_id,
        Member.left_event_id.is_(None),
    )
    base = (
        select(Message)
        .join(Member, readable)
        .where(Message.deleted_at.is_(None), Message.body.is_not(None))
    )
    if _dialect(session) == "sqlite":
        match = fts5_query(query)
        if match is None:
            return []
        hits = (
            text("SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH :q")
            .bindparams(q=match)
            .columns(id=BigInteger)
            .subquery()
        )
        base = base.where(Message.id.in_(select(hits.c.id)))
    else:
        terms = _TERMS.findall(query)[:12]
        if not terms:
            return []
        # Words only (\w+), so nothing the user typed can become tsquery syntax.
        prefix_query = " & ".join([*terms[:-1], terms[-1] + ":*"])
        vector = func.to_tsvector("simple", func.coalesce(Message.body, ""))
        base = base.where(vector.op("@@")(func.to_tsquery("simple", prefix_query)))
    rows = await session.scalars(base.order_by(Message.id.desc()).limit(limit))
    return list(rows)
