"""Wire shapes of tracked privacy requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from parlour.features.accounts.schemas import Input
from parlour.features.requests.states import Kind


class RequestIn(Input):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    kind: Kind
    message: str = Field(min_length=1, max_length=10_000)


class RequestOpened(BaseModel):
    request_id: str
    detail: str


class VerifyIn(Input):
    request_id: str = Field(min_length=1, max_length=32)
    code: str = Field(pattern=r"^\s*\d{6}\s*$")


class RequestVerified(BaseModel):
    state: str
    due_at: datetime | None


class StateIn(Input):
    state: Literal["in_progress", "withdrawn"]


class AnswerIn(Input):
    answer: str = Field(min_length=1, max_length=20_000)
    refuse: bool = False


class RequestOut(BaseModel):
    id: str
    org_id: str | None
    has_account: bool
    name: str
    email: str
    kind: str
    message: str
    state: str
    created_at: datetime
    verified_at: datetime | None
    due_at: datetime | None
    reminded_at: datetime | None
    closed_at: datetime | None
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None
