"""calls and call detail records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:44:38.531782
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("caller_id", sa.String(length=32), nullable=True),
        sa.Column("media", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ring_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caller_id"], ["users.id"], name=op.f("fk_calls_caller_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_calls_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_calls_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calls_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_calls_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index("ix_calls_org_created", ["org_id", "created_at"], unique=False)

    op.create_table(
        "call_guests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_guests_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_call_guests_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_guests")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_call_guests_token_digest")),
    )
    with op.batch_alter_table("call_guests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_guests_call_id"), ["call_id"], unique=False)

    op.create_table(
        "call_quality",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("pseudonym", sa.String(length=24), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("packet_loss_pct", sa.Float(), nullable=True),
        sa.Column("jitter_ms", sa.Float(), nullable=True),
        sa.Column("round_trip_ms", sa.Float(), nullable=True),
        sa.Column("bitrate_kbps", sa.Float(), nullable=True),
        sa.Column("frames_decoded", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_quality_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_quality")),
    )
    with op.batch_alter_table("call_quality", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_quality_call_id"), ["call_id"], unique=False)

    op.create_table(
        "call_participants",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("guest_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("user_name", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnect", sa.String(length=12), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("phone_number", sa.String(length=40), nullable=True),
        sa.Column("endpoint_type", sa.String(length=20), nullable=True),
        sa.Column("endpoint_version", sa.String(length=40), nullable=True),
        sa.Column("device", sa.String(length=60), nullable=True),
        sa.Column("os", sa.String(length=60), nullable=True),
        sa.Column("browser", sa.String(length=60), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_participants_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["guest_id"],
            ["call_guests.id"],
            name=op.f("fk_call_participants_guest_id_call_guests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_call_participants_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_participants")),
    )
    with op.batch_alter_table("call_participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_participants_call_id"), ["call_id"], unique=False)
        batch_op.create_index("ix_call_participants_user", ["user_id", "call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_call_participants_user")
        batch_op.drop_index(batch_op.f("ix_call_participants_call_id"))

    op.drop_table("call_participants")
    with op.batch_alter_table("call_quality", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_quality_call_id"))

    op.drop_table("call_quality")
    with op.batch_alter_table("call_guests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_guests_call_id"))

    op.drop_table("call_guests")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_org_created")
        batch_op.drop_index(batch_op.f("ix_calls_ended_at"))
        batch_op.drop_index(batch_op.f("ix_calls_conversation_id"))

    op.drop_table("calls")
