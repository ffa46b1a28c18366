"""Wire schemas of API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from parlour.features.accounts.schemas import Input
from parlour.features.apikeys.scopes import Scope

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class ApiKeyIn(Input):
    name: KeyName = Field(description="What the key is for, such as the program that uses it.")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working; never when absent."
    )


class ApiKeyOut(BaseModel):
    id: str
    prefix: str = Field(description="pk_<id>: the part of the key that may be shown.")
    name: str
    scopes: list[Scope]
    state: Literal["active", "expired", "revoked"]
    bot_user_id: str = Field(description="The account the key acts as; its messages show it.")
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key, pk_<id>_<secret>. Shown this once only.")


class UsageMinute(BaseModel):
    minute: datetime
    requests: int
    refused: int
