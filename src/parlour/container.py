"""The composition root: every long-lived part is made here, once, and handed on explicitly."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.exceptions import RedisError

from parlour.core.clock import Clock, SystemClock
from parlour.core.ids import new_id
from parlour.core.passwords import Passwords
from parlour.db.engine import check_reachable, create_engine
from parlour.db.models import Base
from parlour.db.uow import Database
from parlour.features.accounts.profile import ProfileService
from parlour.features.accounts.service import AccountService
from parlour.features.analytics.service import AnalyticsService
from parlour.features.apikeys.limiter import make_limiter
from parlour.features.apikeys.service import ApiKeyService
from parlour.features.audit.service import AuditLog
from parlour.features.calls.media import CallMedia
from parlour.features.calls.service import CallService
from parlour.features.chat.events import EventLog
from parlour.features.chat.messages import MessageService
from parlour.features.chat.pump import EventPump
from parlour.features.chat.service import ConversationService
from parlour.features.chat.social import SocialService
from parlour.features.chat.stream import StreamService
from parlour.features.consent.service import ConsentService
from parlour.features.marketing.service import MarketingService
from parlour.features.mfa import MfaService, PasskeyService
from parlour.features.orgs.service import OrgService
from parlour.features.privacy.children import ChildService
from parlour.features.privacy.erasure import ErasureService
from parlour.features.privacy.export import ExportService
from parlour.features.privacy.holds import HoldService
from parlour.features.privacy.notices import PolicyService
from parlour.features.privacy.policy import PolicyBook
from parlour.features.privacy.retention import RetentionService
from parlour.features.requests.service import RequestService
from parlour.features.sso import OidcClient, SsoService
from parlour.features.webhooks import WebhookService, build_webhooks
from parlour.jobs.runner import JobRunner, JobSettings
from parlour.mail.service import Mailer, make_mailer
from parlour.media.janus import JanusSfu
from parlour.media.sfu import Sfu, SfuError
from parlour.realtime.bus import MemoryPubSub, PubSub
from parlour.realtime.presence import MemoryPresence, Presence, RedisPresence
from parlour.realtime.redis_bus import RedisPubSub
from parlour.settings import Settings, SettingsError, ensure_data_dir, resolve_secret_key
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
    bus: PubSub
    presence: Presence
    conversations: ConversationService
    messages: MessageService
    social: SocialService
    pump: EventPump
    stream: StreamService
    consent: ConsentService
    analytics: AnalyticsService
    calls: CallService
    call_media: CallMedia
    jobs: JobRunner
    exports: ExportService
    erasure: ErasureService
    holds: HoldService
    policy: PolicyService
    marketing: MarketingService
    audit: AuditLog
    requests: RequestService
    children: ChildService
    retention: RetentionService
    api_keys: ApiKeyService
    webhooks: WebhookService
    sso: SsoService
    mfa: MfaService
    passkeys: PasskeyService

    async def start(self) -> None:
        """Background work that runs while the app serves."""
        self.mailer.start()
        await self.pump.start()
        self.calls.start_sweeper()
        if self.settings.worker_in_process:
            self.jobs.start()

    async def close(self) -> None:
        await self.jobs.stop()
        await self.calls.stop_sweeper()
        await self.call_media.close()
        await self.sso.close()
        await self.pump.stop()
        await self.mailer.stop()
        await self.bus.close()
        await self.presence.close()
        await self.api_keys.close()
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
    jobs = JobRunner(db, clock, job_settings(settings))
    blobs = FileBlobStore(data_dir / "blobs")
    book = PolicyBook()
    accounts = AccountService(db, clock, passwords, secret_key, mailer, settings, book)
    audit = AuditLog(db, clock, secret_key)
    profiles = ProfileService(db, clock, blobs, accounts, settings.avatar_max_bytes, audit)
    orgs = OrgService(db, clock, accounts, mailer, settings, audit)
    bus, presence = await _fanout(settings)
    events = EventLog(bus, clock)
    conversations = ConversationService(db, clock, events)
    messages = MessageService(db, clock, events, conversations)
    social = SocialService(db, clock, audit)
    pump = EventPump(db, bus, events)
    privacy = (db, clock, blobs, jobs, mailer, accounts, settings)
    erasure = ErasureService(*privacy, Base.metadata)
    stream = StreamService(db, pump, events, conversations, presence, settings.stream_queue)
    consent = ConsentService(db, clock, book)
    calls = CallService(db, clock, events, conversations, settings, secret_key, consent)
    sfu = await _sfu(settings)
    webhooks = build_webhooks(db, clock, jobs, mailer, audit, events, settings, secret_key)
    mfa = MfaService(db, clock, accounts, audit, secret_key)
    passkeys = PasskeyService(db, clock, accounts, mfa, audit, settings.base_url)
    return Container(
        settings,
        clock,
        db,
        secret_key,
        mailer,
        accounts,
        profiles,
        orgs,
        bus,
        presence,
        conversations,
        messages,
        social,
        pump,
        stream,
        consent=consent,
        analytics=AnalyticsService(db, clock, consent),
        calls=calls,
        call_media=CallMedia(calls, sfu, events),
        jobs=jobs,
        exports=ExportService(*privacy, Base.metadata),
        erasure=erasure,
        policy=PolicyService(db, clock, book, jobs, mailer, settings, Base.metadata),
        marketing=MarketingService(db, clock, consent, mailer, settings, secret_key),
        holds=HoldService(db, clock, erasure, audit),
        audit=audit,
        requests=RequestService(db, clock, mailer, jobs, audit, settings, secret_key),
        children=ChildService(db, clock, erasure, audit),
        retention=RetentionService(db, clock, jobs, Base.metadata, audit),
        api_keys=ApiKeyService(
            db,
            clock,
            secret_key,
            audit,
            make_limiter(settings.redis_url),
            settings.api_key_rate_per_minute,
        ),
        webhooks=webhooks,
        sso=_sso(settings, db, clock, accounts, audit, secret_key),
        mfa=mfa,
        passkeys=passkeys,
    )


def _sso(
    settings: Settings,
    db: Database,
    clock: Clock,
    accounts: AccountService,
    audit: AuditLog,
    secret_key: bytes,
) -> SsoService:
    http = httpx.AsyncClient(timeout=settings.sso_timeout_seconds, follow_redirects=False)
    return SsoService(db, clock, accounts, audit, OidcClient(http), secret_key, settings.base_url)


def job_settings(settings: Settings) -> JobSettings:
    return JobSettings(
        poll_seconds=settings.job_poll_seconds, lease_seconds=float(settings.job_lease_seconds)
    )


async def _sfu(settings: Settings) -> Sfu | None:
    """Janus for calls larger than a mesh, when configured; checked at start."""
    if settings.sfu_url is None:
        return None
    sfu = JanusSfu(settings.sfu_url)
    try:
        await sfu.start()
    except SfuError as exc:
        await sfu.close()
        raise SettingsError("PARLOUR_SFU_URL", f"cannot reach the SFU ({exc})") from exc
    return sfu


async def _fanout(settings: Settings) -> tuple[PubSub, Presence]:
    """In-process by default; Redis when several processes share the work."""
    if settings.redis_url is None:
        return MemoryPubSub(), MemoryPresence()
    bus = RedisPubSub(settings.redis_url)
    try:
        await bus.start()
    except (RedisError, OSError) as exc:
        await bus.close()
        raise SettingsError(
            "PARLOUR_REDIS_URL", f"cannot reach Redis ({type(exc).__name__})"
        ) from exc
    return bus, RedisPresence(settings.redis_url, new_id())
