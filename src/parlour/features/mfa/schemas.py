"""Wire schemas of two-factor sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeIn(Input):
    code: Code = Field(description="A 6-digit code from the authenticator app.")


class PasswordIn(Input):
    password: Password


class PasskeyIn(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    credential: dict[str, Any] = Field(
        description="The browser's PublicKeyCredential, as its toJSON() gives it."
    )


class PasskeySignIn(Input):
    credential: dict[str, Any]
    next: str | None = Field(None, max_length=2000)


class RequirementIn(Input):
    required: bool


class RequirementOut(BaseModel):
    required: bool


class PasskeyOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class PasskeyAdded(BaseModel):
    passkey: PasskeyOut
    recovery_codes: list[str] = Field(description="Shown once; empty when you had codes already.")


class StatusOut(BaseModel):
    totp: bool
    recovery_codes_left: int
    passkeys: list[PasskeyOut]
    required_by_organisation: bool


class EnrolmentOut(BaseModel):
    secret: str = Field(description="Base32; type it into the app if you cannot scan the QR code.")
    uri: str = Field(description="The otpauth:// address the QR code holds.")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Each works once. Shown only now.")


class SignedInRedirect(BaseModel):
    redirect: str
