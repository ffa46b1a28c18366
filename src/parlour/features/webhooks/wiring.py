"""Builds the webhook feature and hooks it into the event log (called by the container)."""

from __future__ import annotations

from parlour.core.clock import Clock
from parlour.db.uow import Database
from parlour.features.audit.service import AuditLog
from parlour.features.chat.events import EventLog
from parlour.features.webhooks.delivery import WebhookSender
from parlour.features.webhooks.service import WebhookService
from parlour.features.webhooks.signing import SecretBox
from parlour.jobs.runner import JobRunner
from parlour.mail.service import Mailer
from parlour.settings import Settings


def build_webhooks(
    db: Database,
    clock: Clock,
    jobs: JobRunner,
    mailer: Mailer,
    audit: AuditLog,
    events: EventLog,
    settings: Settings,
    secret_key: bytes,
) -> WebhookService:
    box = SecretBox(secret_key)
    sender = WebhookSender(db, clock, jobs, mailer, audit, box, settings)
    events.subscribe(sender.queue_txn)
    return WebhookService(db, clock, audit, box, sender)
