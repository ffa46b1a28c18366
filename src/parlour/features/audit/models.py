"""The audit log: one row per admin or support access to a person's data, chained by hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base

AUDIT_LIFE = Retention(
    "the entry is written",
    days=3 * 365,
    elsewhere="the audit log's own purge, oldest first, which keeps the chain verifiable",
)


def _kept(category: str, description: str, subject: str = "user") -> dict[str, Any]:
    """Audit entries outlive an erasure: they are the proof of who accessed what."""
    return personal(
        category,
        "legal_compliance",
        retention=AUDIT_LIFE,
        erasure=Erasure.KEEP,
        subject=subject,
        description=description,
    )


class AuditEntry(Base):
    """Append-only. ``seq`` is given by the writer under the write lock, so it has no gaps;
    ``hash`` covers the previous row's hash and this row's canonical JSON (see chain.py).

    No foreign keys: an entry outlives the account and the organisation it names.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org", "org_id", "seq"),
        Index("ix_audit_log_subject", "subject_user_id", "seq"),
        {"info": subject_table("user", "subject_user_id")},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        info=not_personal("position in the chain, without gaps"),
    )
    at: Mapped[datetime] = mapped_column(
        info=_kept("user.account.audit", "when your data was read or changed")
    )
    actor_id: Mapped[str | None] = mapped_column(
        String(32),
        info=_kept(
            "user.unique_id",
            "the administrator or agent who acted; empty for the system or a requester",
            subject="administrator",
        ),
    )
    actor_role: Mapped[str] = mapped_column(
        String(16), info=not_personal("owner, admin, member, operator, requester or system")
    )
    action: Mapped[str] = mapped_column(
        String(48), info=_kept("user.account.audit", "what was done, such as member.suspend")
    )
    subject_user_id: Mapped[str | None] = mapped_column(
        String(32), info=_kept("user.unique_id", "whose data was read or changed")
    )
    org_id: Mapped[str | None] = mapped_column(
        String(32), info=not_personal("the organisation the action happened in")
    )
    fields: Mapped[str] = mapped_column(
        Text,
        info=_kept(
            "user.account.audit",
            "names of the fields or categories read or changed, never their values",
        ),
    )
    request_id: Mapped[str | None] = mapped_column(
        String(32), info=not_personal("the tracked privacy request the step belongs to")
    )
    prev_hash: Mapped[str] = mapped_column(
        String(64), info=not_personal("the previous entry's hash")
    )
    hash: Mapped[str] = mapped_column(String(64), info=not_personal("this entry's chained hash"))


class AuditCheckpoint(Base):
    """Where the chain starts once its oldest entries were purged: the last purged entry.

    ``mac`` is keyed like the chain, so a checkpoint cannot be moved to hide a removed prefix.
    One row, replaced by each purge.
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        info=not_personal("position of the last purged entry"),
    )
    hash: Mapped[str] = mapped_column(
        String(64), info=not_personal("that entry's chained hash, which the next one follows")
    )
    purged_at: Mapped[datetime] = mapped_column(info=not_personal("when the purge ran"))
    mac: Mapped[str] = mapped_column(
        String(64), info=not_personal("keyed digest of seq and hash, so it cannot be forged")
    )
