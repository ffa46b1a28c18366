"""Wire schemas of privacy requests: exports, erasure and legal holds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from parlour.features.accounts.schemas import Input


class ExportOut(BaseModel):
    id: str
    state: str = Field(description="queued, ready, failed or expired")
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    size_bytes: int | None
    download_url: str | None = Field(description="Works for you only, until expires_at.")


class ErasureOut(BaseModel):
    state: str = Field(description="closed: the account no longer works; erasure is queued")
    due_by: datetime = Field(description="The erasure job completes before this time.")


class HoldIn(Input):
    user_id: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=2000)


class HoldOut(BaseModel):
    id: str
    user_id: str
    reason: str
    created_at: datetime
    released_at: datetime | None


class ChildIn(Input):
    reason: str = Field(min_length=1, max_length=2000)
