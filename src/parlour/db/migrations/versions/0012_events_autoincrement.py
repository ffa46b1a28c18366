"""events never reuse an id on SQLite (AUTOINCREMENT)

Without it SQLite hands out the largest id plus one, so deleting the newest event (a
conversation or an account erased) would let the next event take that id again, and a client
resuming after it would skip that event. PostgreSQL's sequence never goes back: nothing to do.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The copy keeps every id; inserting them records the largest in sqlite_sequence.
    with op.batch_alter_table(
        "events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
