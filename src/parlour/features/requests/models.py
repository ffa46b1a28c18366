"""Privacy requests made to the organisation (P-RIGHTS-6), tracked from form to answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

REQUEST_LIFE = Retention("the request is closed", days=3 * 365, column="closed_at")


def _kept(category: str, description: str, **extra: Any) -> dict[str, Any]:
    """Kept after an erasure: proof that a rights request was handled, and how."""
    return personal(
        category,
        "legal_compliance",
        retention=REQUEST_LIFE,
        erasure=Erasure.KEEP,
        description=description,
        **extra,
    )


class PrivacyRequest(Base):
    """One request from the privacy contact form. The requester is known by the email they
    gave (verified by a mailed code); ``user_id`` is the account with that email, if any,
    which decides the organisation whose admins answer. No foreign keys: the record of a
    request outlives the account and the organisation."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        Index("ix_privacy_requests_org", "org_id", "created_at"),
        {"info": subject_table("requester", "email")},
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str | None] = mapped_column(
        String(32), info=not_personal("the organisation that answers; empty: the instance")
    )
    user_id: Mapped[str | None] = mapped_column(
        String(32), info=_kept("user.unique_id", "your account, when the email is one")
    )
    name: Mapped[str] = mapped_column(String(200), info=_kept("user.name", "your name"))
    email: Mapped[str] = mapped_column(
        String(320), index=True, info=_kept("user.contact.email", "where the answer goes")
    )
    kind: Mapped[str] = mapped_column(
        String(16), info=_kept("user.privacy_request", "which right the request is about")
    )
    message: Mapped[str] = mapped_column(Text, info=_kept("user.privacy_request", "what you wrote"))
    state: Mapped[str] = mapped_column(String(12), info=not_personal("where the request is"))
    code_digest: Mapped[str | None] = mapped_column(
        String(64), info=not_personal("keyed digest of the one-time code; cleared once used")
    )
    code_expires_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the code stops working")
    )
    code_attempts: Mapped[int] = mapped_column(Integer, info=not_personal("wrong codes so far"))
    created_at: Mapped[datetime] = mapped_column(
        info=_kept("user.privacy_request", "when you sent it")
    )
    verified_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the email was confirmed")
    )
    due_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("the answer's deadline: 15 days after confirmation")
    )
    reminded_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the handlers were reminded")
    )
    closed_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when it was answered, refused or withdrawn")
    )
    answer: Mapped[str | None] = mapped_column(
        Text, info=_kept("user.privacy_request", "the answer you were sent")
    )
    answered_by: Mapped[str | None] = mapped_column(
        String(32),
        info=_kept("user.unique_id", "the administrator who answered", subject="administrator"),
    )
    answered_at: Mapped[datetime | None] = mapped_column(info=not_personal("when it was answered"))
