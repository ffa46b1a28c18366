"""An organisation's identity provider, its email domains, and the identities linked to accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

LINK_LIFETIME = Retention(
    "the link is removed or the account is erased",
    days=0,
    elsewhere="unlinking by the person, and account erasure",
)


class IdentityProvider(Base):
    """One OpenID Connect provider per organisation; the client secret is kept sealed."""

    __tablename__ = "identity_providers"

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        unique=True,
        info=not_personal("the organisation that signs in through this provider"),
    )
    issuer: Mapped[str] = mapped_column(
        String(500), info=not_personal("the provider's issuer address")
    )
    client_id: Mapped[str] = mapped_column(
        String(500), info=not_personal("Parlour's client id at the provider")
    )
    client_secret_sealed: Mapped[str] = mapped_column(
        Text,
        info=not_personal(
            "Parlour's client secret at the provider, encrypted with a key derived from the "
            "instance secret"
        ),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was configured"))
    updated_at: Mapped[datetime] = mapped_column(info=not_personal("when it last changed"))


class SsoDomain(Base):
    """An email domain whose people sign in through their organisation's provider."""

    __tablename__ = "sso_domains"

    domain: Mapped[str] = mapped_column(
        String(253),
        primary_key=True,
        info=not_personal("an organisation's email domain; one organisation per domain"),
    )
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation the domain belongs to"),
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was added"))


class LinkedIdentity(Base):
    """A person's account at an identity provider, linked to their Parlour account.

    Sign-ins find the link by a keyed digest of issuer and subject; the subject itself is kept
    only encrypted.
    """

    __tablename__ = "linked_identities"
    __table_args__ = (
        UniqueConstraint("user_id", "issuer"),
        {"info": subject_table("user", "user_id")},
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal("user.unique_id", "account_security", retention=LINK_LIFETIME),
    )
    issuer: Mapped[str] = mapped_column(
        String(500),
        info=personal(
            "user.authorization",
            "account_security",
            retention=LINK_LIFETIME,
            description="the identity provider you sign in with",
        ),
    )
    subject_digest: Mapped[str] = mapped_column(
        String(64),
        unique=True,
        info=personal(
            "user.unique_id.pseudonymous",
            "account_security",
            retention=LINK_LIFETIME,
            exported=False,
            description="keyed digest of your id at the provider, to find the link at sign-in",
        ),
    )
    subject_sealed: Mapped[str] = mapped_column(
        Text,
        info=personal(
            "user.authorization.credentials",
            "account_security",
            retention=LINK_LIFETIME,
            exported=False,
            description="your id at the provider, encrypted",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=LINK_LIFETIME)
    )
    last_used_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=LINK_LIFETIME)
    )


class SpentNonce(Base):
    """Nonces of sign-ins already answered, so that a replayed answer is refused."""

    __tablename__ = "sso_spent_nonces"

    digest: Mapped[str] = mapped_column(
        String(64), primary_key=True, info=not_personal("digest of a random one-time value")
    )
    spent_at: Mapped[datetime] = mapped_column(
        index=True, info=not_personal("when it was used; rows older than an hour are deleted")
    )
