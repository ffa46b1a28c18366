"""Wire schemas of accounts: what clients send and receive, never the tables themselves."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Optional120 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^\+?[0-9 ()\-.]{0,40}$")
]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Input(BaseModel):
    """Base of every request body: unknown fields and NUL characters are refused.

    PostgreSQL cannot store a NUL in text; refusing it here keeps both databases alike.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("Text may not contain NUL characters.")
        return value


class ProfileFields(Input):
    phone: Phone | None = Field(default=None, description="Optional. Lets colleagues call you.")
    title: Optional120 | None = Field(
        default=None, description="Optional. Your job title in the directory."
    )
    department: Optional120 | None = Field(
        default=None, description="Optional. Groups you with your team in the directory."
    )
    location: Optional120 | None = Field(
        default=None, description="Optional. Helps colleagues know your time zone."
    )


class SignUp(ProfileFields):
    invitation: str = Field(min_length=10, max_length=200, description="The invitation secret.")
    name: Name = Field(description="Required. Shown to the people you talk to.")
    email: EmailStr = Field(description="Required. Your sign-in name; account mail goes here.")
    password: Password = Field(description="Required. At least 10 characters.")
    birth_date: date = Field(
        description="Required. Checked against the minimum age, then discarded, never stored."
    )
    accept_policy: str = Field(
        min_length=1, max_length=32, description="The privacy policy version you accept."
    )


SecondFactorCode = Annotated[
    str | None,
    Field(
        None,
        max_length=40,
        description="For an account with two-factor sign-in: a code from the authenticator "
        "app, or a recovery code. Without it such an account gets 401 second_factor_required.",
    ),
]


class SignIn(Input):
    email: EmailStr
    password: Password
    code: SecondFactorCode = None


class TokenRequest(Input):
    email: EmailStr
    password: Password
    name: Name = Field(description="A name to recognise the token by.")
    code: SecondFactorCode = None


class Reauth(Input):
    password: Password


class PasswordChange(Input):
    current_password: Password
    new_password: Password


class ResetRequest(Input):
    email: EmailStr


class ResetConfirm(Input):
    token: str = Field(min_length=10, max_length=200)
    new_password: Password


class ProfileUpdate(ProfileFields):
    name: Name | None = None


class UserOut(BaseModel):
    """A person. A closed or erased account is shown as "Deleted user 7f3a" with status
    "deleted", and every other personal field empty."""

    id: str
    org_id: str
    name: str
    email: str | None = Field(description="None for a deleted account.")
    role: Literal["owner", "admin", "member"]
    status: Literal["active", "suspended", "deleted"]
    is_instance_owner: bool
    phone: str | None
    title: str | None
    department: str | None
    location: str | None
    has_avatar: bool
    created_at: datetime | None = Field(description="None for a deleted account.")


class MeOut(UserOut):
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token with cookie-authenticated writes."
    )


class SessionOut(BaseModel):
    id: str
    kind: Literal["cookie", "token"]
    label: str | None
    ip_prefix: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class TokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once. Send as 'Authorization: Bearer <token>'.")
    expires_at: datetime


class SignedIn(BaseModel):
    user: UserOut
    csrf_token: str


class EmailChange(Input):
    email: EmailStr
    password: Password = Field(description="Your current password, to confirm it is you.")
