"""Legal holds: an organisation's administrators record that a person's data must be kept."""

from __future__ import annotations

import logging

from sqlalchemy import select

from parlour.core.clock import Clock
from parlour.core.errors import invalid, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.features.privacy.erasure import CLOSED, ErasureService
from parlour.features.privacy.models import LegalHold

log = logging.getLogger("parlour.privacy.holds")


class HoldService:
    def __init__(
        self, db: Database, clock: Clock, erasure: ErasureService, audit: AuditLog
    ) -> None:
        self._db = db
        self._clock = clock
        self._erasure = erasure
        self._audit = audit

    @staticmethod
    def _require_admin(actor: Actor, org_id: str) -> None:
        """Holds are another organisation's business: absent and forbidden look the same."""
        if actor.org_id != org_id or not actor.is_admin:
            raise not_found("organisation")

    async def list(self, actor: Actor, org_id: str) -> list[LegalHold]:
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(LegalHold)
                .where(LegalHold.org_id == org_id)
                .order_by(LegalHold.created_at.desc(), LegalHold.id)
            )
            return list(rows)

    async def place(self, actor: Actor, org_id: str, user_id: str, reason: str) -> LegalHold:
        self._require_admin(actor, org_id)
        if not reason.strip():
            raise invalid("reason", "Give the legal reason for the hold.")
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_id(uow.session, user_id)
            if user is None or user.org_id != org_id:
                raise not_found("user")
            hold = LegalHold(
                id=new_id(),
                org_id=org_id,
                user_id=user_id,
                reason=reason.strip(),
                created_by=actor.user_id,
                created_at=self._clock.now(),
            )
            uow.session.add(hold)
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("hold.place", user_id, org_id, ("legal_hold",))
            )
            await uow.commit()
        log.info("legal hold placed", extra={"event": "hold.placed", "user": user_id})
        return hold

    async def lift(self, actor: Actor, org_id: str, hold_id: str) -> LegalHold:
        """Lifting the last hold on a closed account lets its erasure run."""
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            hold = await uow.session.get(LegalHold, hold_id)
            if hold is None or hold.org_id != org_id or hold.released_at is not None:
                raise not_found("hold")
            hold.released_at, hold.released_by = self._clock.now(), actor.user_id
            await uow.session.flush()
            others = await uow.session.scalar(
                select(LegalHold.id).where(
                    LegalHold.user_id == hold.user_id, LegalHold.released_at.is_(None)
                )
            )
            user = await accounts_store.user_by_id(uow.session, hold.user_id)
            if others is None and user is not None and user.status == CLOSED:
                await self._erasure.enqueue_txn(uow, user.id)
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("hold.lift", hold.user_id, org_id, ("legal_hold",))
            )
            await uow.commit()
        log.info("legal hold lifted", extra={"event": "hold.lifted", "user": hold.user_id})
        return hold
