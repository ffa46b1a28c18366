"""calls carry their mode (mesh or sfu) and their SFU room

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 13:07:32
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=8), nullable=False, server_default="mesh")
        )
        batch_op.add_column(sa.Column("sfu_room", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.alter_column("mode", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("sfu_room")
        batch_op.drop_column("mode")
