"""Wire schemas of organisations, members and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from parlour.features.accounts.schemas import Input, SignUp

OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
RoleIn = Literal["owner", "admin", "member"]


class SetupIn(SignUp):
    invitation: str = Field(default="-", exclude=True, description="Not used by setup.")
    token: str = Field(min_length=10, max_length=200, description="The one-time setup secret.")
    org_name: OrgName


class OrgIn(Input):
    name: OrgName
    min_age: int = Field(default=16, ge=16, le=18)
    owner_email: EmailStr | None = Field(default=None, description="Who gets the owner invitation.")


class OrgPatch(Input):
    name: OrgName | None = None
    min_age: int | None = Field(default=None, ge=16, le=18)


class OrgOut(BaseModel):
    id: str
    name: str
    min_age: int
    created_at: datetime


class CreatedOrg(BaseModel):
    org: OrgOut
    owner_invitation: str


class MemberPatch(Input):
    role: RoleIn | None = None
    status: Literal["active", "suspended"] | None = None


class InvitationIn(Input):
    email: EmailStr | None = Field(default=None, description="Omit for a shareable link.")
    role: RoleIn = "member"


class InvitationOut(BaseModel):
    id: str
    email: str | None
    role: RoleIn
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationOut):
    link: str = Field(description="Shown once: the secret is not kept.")


class InvitationPreview(BaseModel):
    org_name: str
    role: RoleIn
    email: str | None
    min_age: int
