"""Organisations and the invitations that bring people into them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

INVITE_RETENTION = Retention(
    "the invitation is accepted, revoked or expires",
    days=30,
    column=("accepted_at", "revoked_at", "expires_at"),
)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(120), info=not_personal("name of an organisation"))
    min_age: Mapped[int] = mapped_column(
        Integer, info=not_personal("the organisation's minimum age for accounts")
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when the org was created"))
    require_second_factor: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        info=not_personal("whether members must sign in with a second factor"),
    )


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = {"info": subject_table("invitee", "email")}

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation invited to"),
    )
    email: Mapped[str | None] = mapped_column(
        String(320),
        info=personal(
            "user.contact.email",
            "organisation_admin",
            retention=INVITE_RETENTION,
            subject="invitee",
            description="the address an invitation was sent to",
        ),
    )
    role: Mapped[str] = mapped_column(String(16), info=not_personal("role offered"))
    token_digest: Mapped[str] = mapped_column(
        String(64), unique=True, info=not_personal("digest of the random invitation secret")
    )
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal(
            "user.unique_id",
            "organisation_admin",
            retention=INVITE_RETENTION,
            erasure=Erasure.NULL,
            description="who sent the invitation",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was sent"))
    expires_at: Mapped[datetime] = mapped_column(info=not_personal("when the link stops working"))
    accepted_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the link was used")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(info=not_personal("when it was revoked"))


class InstanceSetup(Base):
    """The one-time link that creates the first organisation and the instance owner."""

    __tablename__ = "instance_setup"

    id: Mapped[str] = id_column()
    token_digest: Mapped[str] = mapped_column(
        String(64), unique=True, info=not_personal("digest of the one-time setup secret")
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when the link was made"))
    used_at: Mapped[datetime | None] = mapped_column(info=not_personal("when setup completed"))
