"""The job table: one row per piece of durable work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import Retention, not_personal, personal, subject_table
from parlour.db.base import Base, id_column

# Not deleted by the retention purge: a finished job's row is also the mark that keyed work
# (a policy announcement) was done once, so the runner clears these values instead.
JOB_LIFE = Retention(
    "the job finishes",
    days=0,
    elsewhere="the job runner, which clears them when a job is done or finally fails",
)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "state", "run_after"),
        {"info": subject_table("user", "subject_id")},
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), info=not_personal("which handler runs it"))
    key: Mapped[str | None] = mapped_column(
        String(120),
        unique=True,
        info=not_personal("deduplicates periodic work; made of job names and times only"),
    )
    subject_id: Mapped[str | None] = mapped_column(
        String(32),
        index=True,
        info=personal(
            "user.unique_id",
            "provide_service",
            retention=JOB_LIFE,
            exported=False,
            description="whose request the job carries out; cleared when it is done",
        ),
    )
    params: Mapped[str] = mapped_column(
        Text,
        info=personal(
            "user.unique_id",
            "provide_service",
            retention=JOB_LIFE,
            exported=False,
            description="the job's arguments, ids only; cleared when it is done",
        ),
    )
    state: Mapped[str] = mapped_column(
        String(12), info=not_personal("queued, running, done or failed")
    )
    attempts: Mapped[int] = mapped_column(Integer, info=not_personal("runs started so far"))
    max_attempts: Mapped[int] = mapped_column(Integer, info=not_personal("runs allowed"))
    run_after: Mapped[datetime] = mapped_column(info=not_personal("earliest next run"))
    lease_owner: Mapped[str | None] = mapped_column(
        String(64), info=not_personal("random id of the worker running it")
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when another worker may take it over")
    )
    last_error: Mapped[str | None] = mapped_column(
        String(200), info=not_personal("exception class and error code only, never a message")
    )
    created_at: Mapped[datetime] = mapped_column(info=not_personal("when it was queued"))
    finished_at: Mapped[datetime | None] = mapped_column(
        info=not_personal("when it was done or gave up")
    )
