"""The consent ledger: append-only; the current state of a purpose is its latest entry.

One row per decision: consent given or withdrawn, a restriction set or lifted, an objection made
or lifted. Rows are never changed in place; they go only when their subject is erased.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from parlour.core.datamap import UNTIL_ERASED, Retention, not_personal, personal, subject_table
from parlour.db.base import Base

SeqId = BigInteger().with_variant(Integer(), "sqlite")
PROOF = UNTIL_ERASED
VISITOR_PROOF = Retention("the choice was made", days=365, column="recorded_at")

KINDS = ("consent", "restriction", "objection")
DECISIONS = {
    "consent": ("given", "withdrawn"),
    "restriction": ("set", "lifted"),
    "objection": ("set", "lifted"),
}
HOWS = ("banner", "settings", "api", "gpc", "dnt", "unsubscribe")


def _proof(description: str) -> dict[str, object]:
    return personal(
        "user.account.consent", "legal_compliance", retention=PROOF, description=description
    )


class ConsentEntry(Base):
    __tablename__ = "consent_ledger"
    __table_args__ = (
        Index("ix_consent_ledger_user", "user_id", "id"),
        Index("ix_consent_ledger_visitor", "visitor_id", "id"),
        {"info": subject_table("user", "user_id")},
    )

    id: Mapped[int] = mapped_column(
        SeqId, primary_key=True, autoincrement=True, info=not_personal("order of the entries")
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        info=personal(
            "user.unique_id",
            "legal_compliance",
            retention=PROOF,
            description="whose decision it is (empty for a signed-out visitor)",
        ),
    )
    visitor_id: Mapped[str | None] = mapped_column(
        String(32),
        info=personal(
            "user.unique_id.pseudonymous",
            "legal_compliance",
            retention=VISITOR_PROOF,
            subject="visitor",
            description="random id in the visitor's parlour_consent cookie",
        ),
    )
    purpose: Mapped[str] = mapped_column(String(40), info=_proof("the purpose decided on"))
    kind: Mapped[str] = mapped_column(String(16), info=_proof("consent, restriction or objection"))
    decision: Mapped[str] = mapped_column(
        String(16), info=_proof("given or withdrawn; set or lifted")
    )
    policy_version: Mapped[str] = mapped_column(
        String(32), info=_proof("the privacy policy version in force at the time")
    )
    how: Mapped[str] = mapped_column(
        String(16), info=_proof("banner, settings, api, unsubscribe link, or a gpc or dnt signal")
    )
    recorded_at: Mapped[datetime] = mapped_column(
        index=True, info=_proof("when the decision was made")
    )
