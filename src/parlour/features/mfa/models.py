"""Second factors: an authenticator app's secret (sealed), recovery codes, passkeys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import not_personal, personal, subject_table
from parlour.db.base import Base, id_column

SECURITY = "account_security"


def _owner() -> Mapped[str]:
    return mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        info=personal("user.unique_id", SECURITY),
    )


class TotpSecret(Base):
    """One per account: unconfirmed until a first code proves the app has it."""

    __tablename__ = "totp_secrets"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        unique=True,
        info=personal("user.unique_id", SECURITY),
    )
    sealed_secret: Mapped[str] = mapped_column(
        Text,
        info=personal(
            "user.authorization.credentials",
            SECURITY,
            exported=False,
            description="the authenticator app's secret, encrypted with a key of this instance",
        ),
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", SECURITY, description="when it was turned on")
    )
    last_step: Mapped[int | None] = mapped_column(
        Integer, info=not_personal("the last 30-second step used, so no code works twice")
    )
    created_at: Mapped[datetime] = mapped_column(info=personal("user.account.metadata", SECURITY))


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = _owner()
    code_digest: Mapped[str] = mapped_column(
        String(64), info=not_personal("keyed digest of a single-use recovery code")
    )
    created_at: Mapped[datetime] = mapped_column(info=personal("user.account.metadata", SECURITY))
    used_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", SECURITY, description="when the code was used")
    )


class Passkey(Base):
    """A WebAuthn credential: only its public half is ever here."""

    __tablename__ = "passkeys"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = _owner()
    name: Mapped[str] = mapped_column(
        String(80),
        info=personal("user.device", SECURITY, description="the name you gave the passkey"),
    )
    credential_id: Mapped[str] = mapped_column(
        String(1400),
        unique=True,
        info=personal(
            "user.authorization.credentials",
            SECURITY,
            exported=False,
            description="the authenticator's identifier of the passkey (base64url)",
        ),
    )
    public_key: Mapped[bytes] = mapped_column(
        LargeBinary,
        info=personal(
            "user.authorization.credentials",
            SECURITY,
            exported=False,
            description="the passkey's public key, which checks its signatures",
        ),
    )
    sign_count: Mapped[int] = mapped_column(
        Integer, info=not_personal("the authenticator's signature counter, against clones")
    )
    transports: Mapped[str] = mapped_column(
        String(200),
        info=personal("user.device", SECURITY, description="how the browser reaches the passkey"),
    )
    created_at: Mapped[datetime] = mapped_column(info=personal("user.account.metadata", SECURITY))
    last_used_at: Mapped[datetime | None] = mapped_column(
        info=personal("user.account.metadata", SECURITY)
    )


class WebauthnChallenge(Base):
    """A challenge handed to the browser; used once, within minutes."""

    __tablename__ = "webauthn_challenges"
    __table_args__ = {"info": subject_table("user", "user_id")}

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = _owner()
    purpose: Mapped[str] = mapped_column(String(16), info=not_personal("register or signin"))
    challenge: Mapped[str] = mapped_column(
        String(128), info=not_personal("random bytes the authenticator signs (base64url)")
    )
    expires_at: Mapped[datetime] = mapped_column(info=not_personal("end of the challenge's life"))
