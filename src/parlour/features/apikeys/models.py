"""Organisation API keys and the per-minute record of their use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Erasure, Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

KEY_LIFE = Retention("the organisation deletes the key or itself")
USAGE_DAYS = 90


class ApiKey(Base):
    """One key of one organisation. Only an HMAC of the secret is kept: the secret is shown
    once, when the key is made. ``bot_user_id`` is the account the key acts as (see docs/api.md).
    """

    __tablename__ = "api_keys"
    __table_args__ = {"info": subject_table("user", "created_by")}

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation the key belongs to"),
    )
    bot_user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        unique=True,
        info=not_personal("the key's own bot account, which is no person"),
    )
    name: Mapped[str] = mapped_column(
        String(80),
        info=personal(
            "user.account.metadata",
            "organisation_admin",
            retention=KEY_LIFE,
            erasure=Erasure.KEEP,
            description="the name an admin gave the key; it may name a person or their script",
        ),
    )
    scopes: Mapped[str] = mapped_column(
        String(200), info=not_personal("what the key may do, space separated")
    )
    secret_hash: Mapped[str] = mapped_column(
        String(64), info=not_personal("HMAC-SHA256 of the random secret under the instance key")
    )
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        info=personal(
            "user.unique_id",
            "organisation_admin",
            retention=KEY_LIFE,
            erasure=Erasure.NULL,
            description="the owner or admin who made the key",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when the key was made"))
    expires_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the key stops working, if ever")
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when the key was last used, to the minute")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when an admin revoked the key")
    )


class ApiKeyUsage(Base):
    """How many requests a key made in one minute, and how many were refused. One row per key
    per minute; kept ``USAGE_DAYS`` days. The audit log gets one entry per key per minute of
    use (and one per minute of refusals), which points here for the counts."""

    __tablename__ = "api_key_usage"
    __table_args__ = (Index("ix_api_key_usage_minute", "minute"),)

    key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal("the key"),
    )
    minute: Mapped[datetime] = mapped_column(
        primary_key=True, info=not_personal("the minute counted, in UTC")
    )
    requests: Mapped[int] = mapped_column(
        Integer, default=0, info=not_personal("requests served in that minute")
    )
    refused: Mapped[int] = mapped_column(
        Integer,
        default=0,
        info=not_personal("requests refused: beyond scope, over the rate, expired or revoked"),
    )
