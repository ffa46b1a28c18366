"""indexes on the columns the retention purge starts its clocks from; the audit checkpoint

The purge picks expired rows by these columns every hour; without an index each run would read
the whole table to find the few rows that expired since the last one. When the audit log's
oldest entries are purged, audit_checkpoints records where the chain now starts.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("events", "created_at"),
    ("message_usage", "created_at"),
    ("auth_sessions", "expires_at"),
    ("mail_outbox", "created_at"),
    ("consent_ledger", "recorded_at"),
)


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    for table, column in reversed(INDEXES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
