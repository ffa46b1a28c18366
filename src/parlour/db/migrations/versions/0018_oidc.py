"""sign-in with an organisation's OpenID Connect provider

Identity providers (one per organisation, the client secret encrypted), the email domains that
lead to an organisation (each in one organisation only), identities linked to accounts (found
by a keyed digest, the subject encrypted), and the nonces of answered sign-ins.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=500), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_identity_providers_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("org_id", name=op.f("uq_identity_providers_org_id")),
    )
    op.create_table(
        "sso_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_sso_domains_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_sso_domains")),
    )
    op.create_index(op.f("ix_sso_domains_org_id"), "sso_domains", ["org_id"], unique=False)
    op.create_table(
        "linked_identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject_digest", sa.String(length=64), nullable=False),
        sa.Column("subject_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_linked_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_identities")),
        sa.UniqueConstraint("subject_digest", name=op.f("uq_linked_identities_subject_digest")),
        sa.UniqueConstraint("user_id", "issuer", name=op.f("uq_linked_identities_user_id")),
    )
    op.create_index(
        op.f("ix_linked_identities_user_id"), "linked_identities", ["user_id"], unique=False
    )
    op.create_table(
        "sso_spent_nonces",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_sso_spent_nonces")),
    )
    op.create_index(
        op.f("ix_sso_spent_nonces_spent_at"), "sso_spent_nonces", ["spent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sso_spent_nonces_spent_at"), table_name="sso_spent_nonces")
    op.drop_table("sso_spent_nonces")
    op.drop_index(op.f("ix_linked_identities_user_id"), table_name="linked_identities")
    op.drop_table("linked_identities")
    op.drop_index(op.f("ix_sso_domains_org_id"), table_name="sso_domains")
    op.drop_table("sso_domains")
    op.drop_table("identity_providers")
