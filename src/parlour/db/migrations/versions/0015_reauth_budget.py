"""each session counts its own wrong password confirmations

Confirming the password inside a session (before an export, an erasure, a password or email
change) no longer spends the sign-in budget of the account, which strangers can exhaust; each
session has its own, and the wrong try that exhausts it ends the session.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reauth_failures", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("reauth_failures")
