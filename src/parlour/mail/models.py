"""Mail kept in the development outbox when no SMTP server is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

OUTBOX_RETENTION = Retention("the mail was written", days=7, column="created_at")


class OutboxMail(Base):
    __tablename__ = "mail_outbox"
    __table_args__ = {"info": subject_table("recipient", "to_addr")}

    id: Mapped[str] = id_column()
    to_addr: Mapped[str] = mapped_column(
        String(320),
        index=True,
        info=personal(
            "user.contact.email",
            "provide_service",
            "marketing",
            retention=OUTBOX_RETENTION,
            subject="recipient",
            description="recipient of a service mail; cleared once it is delivered",
        ),
    )
    subject: Mapped[str] = mapped_column(
        String(200),
        info=personal(
            "user.communications.email",
            "provide_service",
            "marketing",
            retention=OUTBOX_RETENTION,
            subject="recipient",
        ),
    )
    body: Mapped[str] = mapped_column(
        Text,
        info=personal(
            "user.communications.email",
            "provide_service",
            "marketing",
            retention=OUTBOX_RETENTION,
            subject="recipient",
            description="the mail's text, which may hold a one-time link; cleared once sent",
        ),
    )
    headers: Mapped[str | None] = mapped_column(
        Text,
        info=personal(
            "user.communications.email",
            "provide_service",
            "marketing",
            retention=OUTBOX_RETENTION,
            subject="recipient",
            description="extra headers, such as a news mail's unsubscribe link; cleared once sent",
        ),
    )
    status: Mapped[str] = mapped_column(
        String(12), index=True, info=not_personal("kept, pending, sent or failed")
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=not_personal("a count"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        info=not_personal("when delivery is next tried")
    )
    sent_at: Mapped[datetime | None] = mapped_column(info=not_personal("when SMTP accepted it"))
    created_at: Mapped[datetime] = mapped_column(
        index=True, info=not_personal("when it was written")
    )
