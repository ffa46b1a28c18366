"""consent ledger (consent, restriction, objection) and analytics page-view counts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:47:46
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_page_views",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "route", name=op.f("pk_analytics_page_views")),
    )
    op.create_table(
        "consent_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("visitor_id", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("policy_version", sa.String(length=32), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_consent_ledger_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ledger")),
    )
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_consent_ledger_user", ["user_id", "id"], unique=False)
        batch_op.create_index("ix_consent_ledger_visitor", ["visitor_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_ledger_visitor")
        batch_op.drop_index("ix_consent_ledger_user")
    op.drop_table("consent_ledger")
    op.drop_table("analytics_page_views")
