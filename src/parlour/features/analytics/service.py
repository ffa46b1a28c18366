"""Product analytics: an anonymous page-view count, taken only when the consent gate allows.

Nothing about the viewer is stored, only the day, the route template and a number; still the
count is optional processing, so it runs for people who consented to analytics and nobody else.
"""

from __future__ import annotations

from parlour.core.clock import Clock
from parlour.db.uow import Database
from parlour.features.analytics import store
from parlour.features.consent.rules import DataSubject
from parlour.features.consent.service import ConsentService

PURPOSE = "analytics"


class AnalyticsService:
    def __init__(self, db: Database, clock: Clock, consent: ConsentService) -> None:
        self._db = db
        self._clock = clock
        self._consent = consent

    async def count_page_view(self, subject: DataSubject, route: str) -> bool:
        """Counts one view of ``route`` if the gate allows; says whether it counted."""
        if not await self._consent.may_process(subject, PURPOSE):
            return False
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            await store.increment_txn(uow.session, self._today(), route[:200])
            await uow.commit()
        return True

    async def views_today(self) -> dict[str, int]:
        async with self._db.transaction() as uow:
            return await store.counts_on(uow.session, self._today())

    def _today(self) -> str:
        return self._clock.now().date().isoformat()
