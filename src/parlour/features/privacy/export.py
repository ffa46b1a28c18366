"""Download my data (P-RIGHTS-1, P-RIGHTS-2): a durable job builds the ZIP from the data map.

The request re-checks identity (P-ACC-5), writes an export row and queues the job in one
transaction. The job streams the archive to the blob store, then marks the export ready, queues
the "your export is ready" mail and marks itself done in one more transaction, so a crash at any
point leaves either nothing or everything, and a retry starts over cleanly. The file is deleted
when its link expires, by a periodic retention job.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select

from parlour.core.clock import Clock
from parlour.core.datamap import PURPOSES
from parlour.core.errors import AppError, ErrorCode, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.service import AccountService
from parlour.features.privacy import archive
from parlour.features.privacy.archive import Tally, Writer
from parlour.features.privacy.models import Export
from parlour.features.privacy.walker import Identity, declaration, selections
from parlour.jobs.runner import JobContext, JobRunner
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings
from parlour.storage.blobs import BlobStore

log = logging.getLogger("parlour.privacy.export")

BUILD = "privacy.export"
EXPIRE = "privacy.exports_expire"
QUEUED, READY, FAILED, EXPIRED = "queued", "ready", "failed", "expired"


def export_key(export_id: str) -> str:
    """Derived from the export's random id, so a retried build overwrites its own file."""
    return f"exports/{export_id}.zip"


class ExportService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        blobs: BlobStore,
        jobs: JobRunner,
        mailer: Mailer,
        accounts: AccountService,
        settings: Settings,
        metadata: MetaData,
    ) -> None:
        self._db = db
        self._clock = clock
        self._blobs = blobs
        self._jobs = jobs
        self._mailer = mailer
        self._accounts = accounts
        self._settings = settings
        self._metadata = metadata
        self._scratch = settings.data_dir / "tmp"
        jobs.register(BUILD, self._build, max_attempts=3)
        jobs.register(EXPIRE, self._expire)
        jobs.every(EXPIRE, timedelta(hours=1))

    # -- the API's use cases --------------------------------------------------------------

    async def request(self, actor: Actor) -> Export:
        self._accounts.require_recent_auth(actor)
        now = self._clock.now()
        async with self._db.transaction() as uow:
            export = Export(id=new_id(), user_id=actor.user_id, state=QUEUED, created_at=now)
            uow.session.add(export)
            await self._jobs.enqueue_txn(
                uow, BUILD, {"export_id": export.id}, subject_id=actor.user_id
            )
            await uow.commit()
        log.info("export requested", extra={"event": "export.requested", "user": actor.user_id})
        return export

    async def list(self, actor: Actor) -> list[Export]:
        async with self._db.transaction() as uow:
            rows = await uow.session.scalars(
                select(Export)
                .where(Export.user_id == actor.user_id)
                .order_by(Export.created_at.desc(), Export.id)
            )
            return list(rows)

    async def access_download(self, actor: Actor, export_id: str) -> Export:
        """Only the person it belongs to, whatever their role: anyone else gets 404."""
        async with self._db.transaction() as uow:
            export = await uow.session.get(Export, export_id)
        if export is None or export.user_id != actor.user_id:
            raise not_found("export")
        if export.state == EXPIRED or (
            export.expires_at is not None and export.expires_at <= self._clock.now()
        ):
            raise AppError(ErrorCode.EXPORT_EXPIRED, "This export has expired. Ask for a new one.")
        if export.state != READY or export.blob_key is None:
            raise AppError(ErrorCode.EXPORT_NOT_READY, "This export is not ready yet.")
        return export

    def content(self, export: Export) -> AsyncIterator[bytes]:
        assert export.blob_key is not None  # noqa: S101 - checked by access_download
        return self._blobs.chunks(export.blob_key)

    def schema(self, name: str) -> dict[str, Any]:
        table = self._metadata.tables.get(name)
        if table is None or table not in archive.exportable(self._metadata):
            raise not_found("schema")
        return archive.table_schema(table, self._settings.base_url)

    # -- the jobs -------------------------------------------------------------------------

    async def _build(self, ctx: JobContext, params: dict[str, Any]) -> None:
        export_id = str(params["export_id"])
        async with self._db.transaction() as uow:
            export = await uow.session.get(Export, export_id)
            user = await accounts_store.user_by_id(uow.session, export.user_id) if export else None
        if export is None or user is None or export.state != QUEUED:
            async with self._db.transaction() as uow:  # nothing (left) to do
                await ctx.complete_txn(uow)
                await uow.commit()
            return
        key = export_key(export_id)
        size = await self.build_archive(Identity(user.id, user.email), key)
        await self._mark_ready(ctx, export_id, key, size)

    async def build_archive(self, who: Identity, key: str) -> int:
        """Writes the person's archive to the blob store under ``key``; returns its size."""
        writer = Writer(self._scratch)
        try:
            tally = Tally()
            await self._write_data(writer, who, tally)
            await writer.call(lambda: self._write_front(writer, who, tally))
            path = await _finish(writer)
        except BaseException:
            writer.discard()
            raise
        size = path.stat().st_size
        await self._blobs.put_file(key, path)
        return size

    async def _write_data(self, writer: Writer, who: Identity, tally: Tally) -> None:
        chosen = selections(self._metadata, who)
        media: list[tuple[str, str]] = []
        async with self._db.transaction() as uow:
            for table in archive.exportable(self._metadata):
                mine = [s for s in chosen if s.table is table]
                keys = await archive.write_table(uow.session, writer, table, mine, tally)
                media.extend((k, f"{table.name}.{_blob_column(table)}") for k in keys)
        for key, column in media:
            await archive.add_media(writer, self._blobs, key, column, tally)

    def _write_front(self, writer: Writer, who: Identity, tally: Tally) -> None:
        base = self._settings.base_url
        for table in archive.exportable(self._metadata):
            writer.add_json(archive.schema_path(table), archive.table_schema(table, base))
        manifest = self.manifest(who, tally)
        writer.add_json("manifest.json", manifest)
        archive.copy_summary(writer, _summary_head(manifest), "</body></html>\n")

    def manifest(self, who: Identity, tally: Tally) -> dict[str, Any]:
        """What the archive holds and why, generated from the data map and the purposes."""
        tables = archive.exportable(self._metadata)
        used = {p for t in tables for c in t.columns if (d := declaration(c)) for p in d.purposes}
        return {
            "format": archive.FORMAT,
            "subject": {"user_id": who.user_id},
            "generated_at": self._clock.now().isoformat(),
            "rule_for_others_data": archive.OTHERS_RULE,
            "files": [_file_entry(t, tally, self._settings.base_url) for t in tables],
            "media": [{"path": p, "column": c} for p, c in tally.media],
            "categories": [
                _category_entry(self._metadata, category, sorted(columns))
                for category, columns in sorted(tally.categories.items())
            ],
            "purposes": [
                {
                    "key": p.key,
                    "name": p.name,
                    "legal_basis": p.basis.value,
                    "description": p.description,
                    "essential": p.essential,
                    "recipients": recipients_of(p.key),
                }
                for p in PURPOSES.values()
                if p.key in used
            ],
            "sources": archive.SOURCES,
        }

    async def _mark_ready(self, ctx: JobContext, export_id: str, key: str, size: int) -> None:
        now = self._clock.now()
        expires = now + timedelta(days=self._settings.export_days)
        async with self._db.transaction() as uow:
            export = await uow.session.get(Export, export_id)
            user = await accounts_store.user_by_id(uow.session, export.user_id) if export else None
            if export is None or user is None:
                await ctx.complete_txn(uow)
                await uow.commit()
                await self._blobs.delete(key)
                return
            export.state, export.blob_key, export.size_bytes = READY, key, size
            export.ready_at, export.expires_at = now, expires
            self._mailer.queue_txn(uow, self._ready_mail(user.email, user.name, expires))
            await ctx.complete_txn(uow)
            await uow.commit()
        log.info("export ready", extra={"event": "export.ready", "user": user.id})

    def _ready_mail(self, email: str, name: str, expires: Any) -> Mail:
        link = f"{self._settings.base_url}/api/v1/me/exports"
        return Mail(
            to=email,
            subject="Your Parlour data export is ready",
            body=(
                f"Hello {name},\n\nThe copy of your data you asked for is ready. Sign in and "
                f"download it from {link} before {expires:%Y-%m-%d %H:%M} UTC; after that it is "
                "deleted.\n\nIf you did not ask for this, change your password.\n"
            ),
        )

    async def _expire(self, ctx: JobContext, params: dict[str, Any]) -> None:
        """Deletes the files of expired exports (P-RET-1); safe to run any number of times."""
        now = self._clock.now()
        async with self._db.transaction() as uow:
            due = list(
                await uow.session.scalars(
                    select(Export).where(Export.state == READY, Export.expires_at <= now)
                )
            )
        for export in due:
            if export.blob_key:
                await self._blobs.delete(export.blob_key)
            async with self._db.transaction() as uow:
                row = await uow.session.get(Export, export.id)
                if row is not None:
                    row.state, row.blob_key = EXPIRED, None
                await uow.commit()
        if due:
            log.info("exports expired", extra={"event": "export.expired", "count": len(due)})


def recipients_of(purpose: str) -> str:
    return archive.RECIPIENTS.get(purpose, "nobody beyond the operator")


async def _finish(writer: Writer) -> Path:
    path: Path | None = None

    def work() -> None:
        nonlocal path
        path = archive.finish(writer)

    await writer.call(work)
    assert path is not None  # noqa: S101
    return path


def _blob_column(table: Any) -> str:
    return str(next(c.name for c in table.columns if (d := declaration(c)) and d.blob))


def _file_entry(table: Any, tally: Tally, base: str) -> dict[str, Any]:
    return {
        "path": archive.file_of(table),
        "schema": archive.schema_path(table),
        "published_schema": f"{base}/api/v1/export/schemas/{table.name}.json",
        "rows": dict(tally.rows.get(table.name, {})),
    }


def _category_entry(metadata: MetaData, category: str, columns: list[str]) -> dict[str, Any]:
    decls = []
    for name in columns:
        table, column = name.split(".")
        decl = declaration(metadata.tables[table].c[column])
        if decl is not None:
            decls.append(decl)
    purposes = sorted({p for d in decls for p in d.purposes})
    return {
        "category": category,
        "columns": columns,
        "purposes": purposes,
        "legal_bases": sorted({PURPOSES[p].basis.value for p in purposes}),
        "retention": sorted({d.retention.describe() for d in decls}),
        "erasure": sorted({d.erasure.value for d in decls}),
        "recipients": sorted(
            {recipients_of(p) for p in purposes}
            | ({"the other members of the conversation"} if any(d.shared for d in decls) else set())
        ),
    }


def _summary_head(manifest: dict[str, Any]) -> str:
    esc = html.escape
    purposes = "".join(
        f"<li><b>{esc(p['name'])}</b> ({esc(p['legal_basis'])}): {esc(p['description'])} "
        f"Recipients: {esc(p['recipients'])}.</li>"
        for p in manifest["purposes"]
    )
    categories = "".join(
        f"<tr><td>{esc(c['category'])}</td><td>{esc(', '.join(c['columns']))}</td>"
        f"<td>{esc('; '.join(c['retention']))}</td></tr>"
        for c in manifest["categories"]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Your Parlour data</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;"
        "padding:.2em .5em;text-align:left;vertical-align:top}tr.shared,tr.about{color:#555}"
        "</style></head><body><h1>Your Parlour data</h1>"
        f"<p>Made {esc(manifest['generated_at'])}. {esc(manifest['rule_for_others_data'])}</p>"
        f"<h2>Why we hold it</h2><ul>{purposes}</ul>"
        "<h2>What we hold</h2><table><tr><th>category</th><th>where</th><th>kept</th></tr>"
        f"{categories}</table>"
    )
