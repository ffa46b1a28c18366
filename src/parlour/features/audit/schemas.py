"""Wire shapes of the audit log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor_id: str | None
    actor_role: str
    action: str
    subject_user_id: str | None
    fields: list[str]
    request_id: str | None
    hash: str


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
