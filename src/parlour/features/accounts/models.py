"""Users, their sessions and tokens, password resets and sign-in throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import (
    UNTIL_ERASED,
    Erasure,
    Retention,
    not_personal,
    personal,
    subject_table,
)
from parlour.db.base import Base, id_column

SESSION_RETENTION = Retention("the session ends", days=0, column="expires_at")
SECURITY_WINDOW = Retention("the sign-in attempt", days=1, column="window_start")
RESET_WINDOW = Retention("the sign-in attempt", days=1, column="created_at")
PROFILE = ("provide_service", "organisation_admin")
# An account's status: closed when its erasure is asked for, erased once done (the tombstone).
CLOSED = "closed"
ERASED = "erased"
GONE = frozenset({CLOSED, ERASED})


def _profile(category: str, description: str) -> dict[str, object]:
    return personal(category, *PROFILE, erasure=Erasure.DELETE, description=description)


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"info": subject_table("user", "id")}

    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"),
        index=True,
        info=not_personal("the organisation the account belongs to"),
    )
    email: Mapped[str] = mapped_column(
        String(320),
        unique=True,
        info=_profile("user.contact.email", "sign-in name and where account mail goes"),
    )
    name: Mapped[str] = mapped_column(
        String(120), info=_profile("user.name", "shown to the people you talk to")
    )
    password_hash: Mapped[str | None] = mapped_column(
        String(200),
        info=personal(
            "user.authorization.credentials",
            "account_security",
            exported=False,
            description="argon2id hash of the password; never shown or exported",
        ),
    )
    role: Mapped[str] = mapped_column(
        String(16), info=_profile("user.account.role", "owner, admin or member")
    )
    is_instance_owner: Mapped[bool] = mapped_column(
        default=False, info=_profile("user.account.role", "runs this Parlour instance")
    )
    status: Mapped[str] = mapped_column(
        String(16), info=_profile("user.account.status", "active or suspended")
    )
    phone: Mapped[str | None] = mapped_column(
        String(40), info=_profile("user.contact.phone_number", "lets colleagues call you")
    )
    title: Mapped[str | None] = mapped_column(
        String(120), info=_profile("user.workplace.position", "your job title in the directory")
    )
    department: Mapped[str | None] = mapped_column(
        String(120), info=_profile("user.workplace", "groups you with your team")
    )
    location: Mapped[str | None] = mapped_column(
        String(120), info=_profile("user.contact.city", "helps colleagues find your time zone")
    )
    avatar_key: Mapped[str | None] = mapped_column(
        String(64),
        info=personal(
            "user.biometric.photo",
            *PROFILE,
            blob="avatars",
            description="key of your profile picture blob",
        ),
    )
    second_factor: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        info=personal(
            "user.account.metadata",
            "account_security",
            description="whether signing in asks for a second factor (kept by features/mfa)",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=_profile("user.account.metadata", "when the account was made")
    )
    updated_at: Mapped[datetime] = mapped_column(
        info=_profile("user.account.metadata", "when the profile last changed")
    )


class AuthSession(Base):
    """A signed-in browser or an API token: both are bearer secrets we keep only digests of."""

    __tablename__ = "auth_sessions"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal("user.unique_id", "account_security", retention=SESSION_RETENTION),
    )
    kind: Mapped[str] = mapped_column(String(8), info=not_personal("cookie or token"))
    label: Mapped[str | None] = mapped_column(
        String(200),
        info=personal(
            "user.device",
            "account_security",
            retention=SESSION_RETENTION,
            description="browser and system, or the token's name, so you can tell sessions apart",
        ),
    )
    secret_digest: Mapped[str] = mapped_column(
        String(64), unique=True, info=not_personal("digest of the random session secret")
    )
    ip_prefix: Mapped[str | None] = mapped_column(
        String(64),
        info=personal(
            "user.device.ip_address",
            "account_security",
            retention=SESSION_RETENTION,
            description="network of the sign-in, truncated to /24 (IPv4) or /48 (IPv6)",
        ),
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=SESSION_RETENTION)
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=SESSION_RETENTION)
    )
    expires_at: Mapped[datetime] = mapped_column(
        index=True, info=not_personal("fixed lifetime end")
    )
    reauth_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=SESSION_RETENTION)
    )
    reauth_failures: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        info=not_personal("wrong passwords typed to confirm it is you, since the last right one"),
    )


class PasswordReset(Base):
    __tablename__ = "password_resets"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal("user.unique_id", "account_security", retention=RESET_WINDOW),
    )
    token_digest: Mapped[str] = mapped_column(
        String(64), unique=True, info=not_personal("digest of the single-use reset secret")
    )
    created_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=RESET_WINDOW)
    )
    expires_at: Mapped[datetime] = mapped_column(info=not_personal("end of the link's life"))
    used_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", "account_security", retention=RESET_WINDOW)
    )


class SigninFailure(Base):
    """Failed sign-ins per account and per address, keyed by a keyed digest, never in clear."""

    __tablename__ = "signin_failures"
    __table_args__ = {"info": subject_table("pseudonymous", "bucket")}

    bucket: Mapped[str] = mapped_column(
        String(80),
        primary_key=True,
        info=personal(
            "user.unique_id.pseudonymous",
            "account_security",
            retention=SECURITY_WINDOW,
            subject="pseudonymous",
            exported=False,
            description="keyed digest of an account email or a client address",
        ),
    )
    failures: Mapped[int] = mapped_column(Integer, info=not_personal("a count"))
    window_start: Mapped[datetime] = mapped_column(info=not_personal("start of the window"))


class PolicyAcceptance(Base):
    __tablename__ = "policy_acceptances"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal(
            "user.unique_id",
            "legal_compliance",
            retention=UNTIL_ERASED,
        ),
    )
    policy_version: Mapped[str] = mapped_column(
        String(32),
        info=personal(
            "user.account.consent",
            "legal_compliance",
            description="the privacy policy version you accepted",
        ),
    )
    accepted_at: Mapped[datetime] = mapped_column(
        info=personal("user.account.consent", "legal_compliance")
    )
    how: Mapped[str] = mapped_column(
        String(16),
        info=personal("user.account.consent", "legal_compliance", description="sign-up or prompt"),
    )
