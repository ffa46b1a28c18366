"""Data exports a person asked for, and legal holds an administrator recorded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

EXPORT_LIFE = Retention(
    "the download link expires", days=0, elsewhere="the export expiry job (export.py)"
)
HOLD_LIFE = Retention("the hold is lifted", days=365, column="released_at")


class Export(Base):
    __tablename__ = "exports"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal("user.unique_id", "provide_service", retention=EXPORT_LIFE),
    )
    state: Mapped[str] = mapped_column(
        String(12), info=not_personal("queued, ready, failed or expired")
    )
    blob_key: Mapped[str | None] = mapped_column(
        String(64),
        info=personal(
            "user.account.export",
            "provide_service",
            retention=EXPORT_LIFE,
            exported=False,
            blob="exports",
            description="the ZIP file of your data, deleted when the link expires",
        ),
    )
    size_bytes: Mapped[int | None] = mapped_column(
        BigInteger, info=not_personal("size of the file")
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", "provide_service", retention=EXPORT_LIFE)
    )
    ready_at: Mapped[datetime | None] = mapped_column(info=not_personal("when it was built"))
    expires_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the link stops working")
    )


class LegalHold(Base):
    """An administrator's record that a person's data must be kept despite an erasure request.

    The user id is not a foreign key: a hold outlives the account it concerns.
    """

    __tablename__ = "legal_holds"
    __table_args__ = (
        Index("ix_legal_holds_user", "user_id", "released_at"),
        {"info": subject_table("user", "user_id")},
    )

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation that recorded it"),
    )
    user_id: Mapped[str] = mapped_column(
        String(32),
        info=personal(
            "user.unique_id",
            "legal_compliance",
            retention=HOLD_LIFE,
            erasure=Erasure.KEEP,
            description="whose data the hold keeps",
        ),
    )
    reason: Mapped[str] = mapped_column(
        Text,
        info=personal(
            "user.legal.hold",
            "legal_compliance",
            retention=HOLD_LIFE,
            erasure=Erasure.KEEP,
            description="the legal reason given by the administrator; told to you on erasure",
        ),
    )
    created_by: Mapped[str | None] = mapped_column(
        String(32),
        info=personal(
            "user.unique_id",
            "legal_compliance",
            retention=HOLD_LIFE,
            erasure=Erasure.KEEP,
            subject="administrator",
            exported=False,
            description="the administrator who recorded it, for the audit trail",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal(
            "user.legal.hold", "legal_compliance", retention=HOLD_LIFE, erasure=Erasure.KEEP
        )
    )
    released_by: Mapped[str | None] = mapped_column(
        String(32),
        info=personal(
            "user.unique_id",
            "legal_compliance",
            retention=HOLD_LIFE,
            erasure=Erasure.KEEP,
            subject="administrator",
            exported=False,
            description="the administrator who lifted it, for the audit trail",
        ),
    )
    released_at: Mapped[datetime | None] = mapped_column(
        info=personal(
            "user.legal.hold", "legal_compliance", retention=HOLD_LIFE, erasure=Erasure.KEEP
        )
    )
