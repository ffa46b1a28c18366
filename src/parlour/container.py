"""The composition root: every long-lived part is made here, once, and handed on explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from parlour.core.clock import Clock, SystemClock
from parlour.core.passwords import Passwords
from parlour.db.engine import check_reachable, create_engine
from parlour.db.uow import Database
from parlour.features.accounts.profile import ProfileService
from parlour.features.accounts.service import AccountService
from parlour.features.orgs.service import OrgService
from parlour.mail.service import Mailer, make_mailer
from parlour.settings import Settings, ensure_data_dir, resolve_secret_key
from parlour.storage.blobs import FileBlobStore


@dataclass
class Container:
    settings: Settings
    clock: Clock
    db: Database
    secret_key: bytes
    mailer: Mailer
    accounts: AccountService
    profiles: ProfileService
    orgs: OrgService

    def start(self) -> None:
        """Background work that runs while the app serves."""
        self.mailer.start()

    async def close(self) -> None:
        await self.mailer.stop()
        await self.db.dispose()


async def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    data_dir = ensure_data_dir(settings)
    secret_key = resolve_secret_key(settings)
    engine = create_engine(settings.resolved_database_url)
    await check_reachable(engine)
    db = Database(engine)
    passwords = Passwords(settings.password_time_cost, settings.password_memory_cost)
    mailer = make_mailer(settings, db, clock)
    blobs = FileBlobStore(data_dir / "blobs")
    accounts = AccountService(db, clock, passwords, secret_key, mailer, settings)
    profiles = ProfileService(db, clock, blobs, accounts, settings.avatar_max_bytes)
    orgs = OrgService(db, clock, accounts, mailer, settings)
    return Container(settings, clock, db, secret_key, mailer, accounts, profiles, orgs)
