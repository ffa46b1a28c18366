"""Wire schemas of the identity provider settings, linked identities and the new-account form."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from parlour.features.accounts.schemas import Input

Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ProviderIn(Input):
    issuer: Text500 = Field(
        description="The provider's issuer address, e.g. https://accounts.google.com."
    )
    client_id: Text500 = Field(description="Parlour's client id at the provider.")
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Parlour's client secret; required the first time, kept when left out. "
        "Stored encrypted and never shown again.",
    )
    domains: list[Annotated[str, StringConstraints(max_length=253)]] = Field(
        min_length=1,
        max_length=20,
        description="Email domains of the organisation; each belongs to one organisation.",
    )


class ProviderOut(BaseModel):
    issuer: str
    client_id: str
    domains: list[str]
    redirect_uri: str = Field(description="Register this address at the provider.")
    client_secret_set: bool = True


class LinkedIdentityOut(BaseModel):
    id: str
    issuer: str
    created_at: datetime
    last_used_at: datetime | None


class NewAccountIn(Input):
    """The page after a first sign-in through the organisation: the same checks as sign-up."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    birth_date: date = Field(description="Checked against the minimum age, then discarded.")
    accept_policy: str = Field(min_length=1, max_length=32)
