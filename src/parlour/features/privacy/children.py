"""An account found to belong to a child (P-ACC-2): closed at once, then erased with all its data.

An organisation's admin marks the account. In one transaction the account is closed, every
session and API token ends, the erasure job is queued and the step is audited; the job then
erases the account exactly as a person's own deletion would (see erasure.py). The reason must be
given but is not stored: the account it is about is being erased.
"""

from __future__ import annotations

import logging

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.db.uow import Database
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.features.privacy.erasure import CLOSED, ErasureService

log = logging.getLogger("parlour.privacy.children")

CHILD_FIELDS = ("account", "sessions", "all personal data")


class ChildService:
    def __init__(
        self, db: Database, clock: Clock, erasure: ErasureService, audit: AuditLog
    ) -> None:
        self._db = db
        self._clock = clock
        self._erasure = erasure
        self._audit = audit

    async def mark_child(self, actor: Actor, org_id: str, user_id: str, reason: str) -> None:
        if actor.org_id != org_id or not actor.is_admin:
            raise not_found("organisation")
        if not reason.strip():
            raise invalid("reason", "Say how you learned the account is a child's.")
        if user_id == actor.user_id:
            raise AppError(ErrorCode.FORBIDDEN, "You cannot mark your own account.")
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_id(uow.session, user_id)
            if user is None or user.org_id != org_id or user.status == "erased":
                raise not_found("member")
            if user.role == "owner" and actor.role != "owner":
                raise AppError(ErrorCode.FORBIDDEN, "Only an owner can manage another owner.")
            user.status, user.updated_at = CLOSED, self._clock.now()
            await accounts_store.delete_sessions_txn(uow.session, user.id)
            await self._erasure.enqueue_txn(uow, user.id)
            child = Access("member.child", user.id, org_id, CHILD_FIELDS)
            await self._audit.record_txn(uow, Doer.of(actor), child)
            await uow.commit()
        log.info("child account closed for erasure", extra={"event": "child.marked"})
