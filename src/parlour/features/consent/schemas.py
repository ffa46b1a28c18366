"""Wire schemas of the consent API: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["give", "withdraw", "restrict", "unrestrict", "object", "unobject"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeIn(Input):
    purpose: str = Field(min_length=1, max_length=40, description="A key of the purposes list.")
    action: Action = Field(
        description="give or withdraw consent; restrict or unrestrict; object or unobject."
    )


class ChangesIn(Input):
    changes: list[ChangeIn] = Field(min_length=1, max_length=20)


class DesiredIn(Input):
    """The state wanted for one purpose; only what differs from now is recorded."""

    consent: bool | None = Field(default=None, description="Consent given (consent purposes).")
    restricted: bool | None = None
    objected: bool | None = Field(
        default=None, description="Objection (legitimate-interest purposes)."
    )


class StateIn(Input):
    purposes: dict[str, DesiredIn] = Field(min_length=1, max_length=20)


class PurposeOut(BaseModel):
    key: str
    name: str
    description: str
    legal_basis: str
    essential: bool
    consent: Literal["given", "withdrawn"] | None
    consent_policy_version: str | None
    restricted: bool
    objected: bool
    allowed: bool = Field(description="Whether this processing may run for you right now.")


class EntryOut(BaseModel):
    purpose: str
    kind: Literal["consent", "restriction", "objection"]
    decision: str
    policy_version: str
    how: str
    at: datetime


class SignalsOut(BaseModel):
    gpc: bool
    dnt: bool


class ConsentsOut(BaseModel):
    policy_version: str
    signals: SignalsOut
    chosen: bool
    purposes: list[PurposeOut]
    history: list[EntryOut]
