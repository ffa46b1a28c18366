"""The retention map: every timed period in the data map is enforceable, or says who enforces it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table

from parlour.core.datamap import Purge, Retention, personal, subject_table
from parlour.db.models import Base
from parlour.features.privacy.retention_map import periods, timed_declarations, unenforced


def test_every_timed_period_of_the_data_map_is_enforced_or_claimed() -> None:
    assert unenforced(Base.metadata) == []
    enforced = {(p.name, p.retention) for p in periods(Base.metadata)}
    for table in Base.metadata.tables.values():
        for retention in timed_declarations(table):
            assert (table.name, retention) in enforced or retention.elsewhere, table.name


def test_children_are_purged_before_the_rows_they_point_at() -> None:
    order = [p.name for p in periods(Base.metadata)]
    for child in ("call_participants", "call_quality", "call_guests"):
        assert order.index(child) < order.index("calls")


def _table(metadata: MetaData, retention: Retention, *, nullable: bool = True) -> Table:
    return Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("parent_id", ForeignKey("parents.id")),
        Column(
            "text",
            String(20),
            nullable=nullable,
            info=personal("user.name", "provide_service", retention=retention),
        ),
        Column("written_at", DateTime),
        info=subject_table("user", "text"),
    )


def _problems(retention: Retention, *, nullable: bool = True) -> list[str]:
    metadata = MetaData()
    Table("parents", metadata, Column("id", Integer, primary_key=True), Column("at", DateTime))
    _table(metadata, retention, nullable=nullable)
    return unenforced(metadata)


def test_a_timed_period_without_an_anchor_column_is_reported() -> None:
    found = _problems(Retention("the note was written", days=30))
    assert found == ["notes (30 days after the note was written): the period names no column "
                     "its clock starts from"]  # fmt: skip


def test_a_period_claimed_elsewhere_or_untimed_is_not_reported() -> None:
    assert _problems(Retention("the note was written", days=30, elsewhere="a cron job")) == []
    assert _problems(Retention("the note exists")) == []


def test_anchors_must_resolve_and_clearing_needs_nullable_columns() -> None:
    assert _problems(Retention("w", days=1, column="written_at")) == []
    assert _problems(Retention("w", days=1, column="parent_id.at")) == []
    assert "not a column" in _problems(Retention("w", days=1, column="missing"))[0]
    assert "not a column" in _problems(Retention("w", days=1, column="parent_id.nope"))[0]
    assert "not a column" in _problems(Retention("w", days=1, column="text.at"))[0]
    cleared = Retention("w", days=1, column="written_at", purge=Purge.CLEAR)
    assert _problems(cleared) == []
    assert "nullable" in _problems(cleared, nullable=False)[0]


def test_the_expiry_test_uses_the_anchor_and_the_days() -> None:
    metadata = MetaData()
    Table("parents", metadata, Column("id", Integer, primary_key=True), Column("at", DateTime))
    _table(metadata, Retention("w", days=3, column="parent_id.at"))
    (period,) = periods(metadata)
    sql = str(
        period.expired(datetime(2026, 1, 1, tzinfo=UTC)).compile(
            compile_kwargs={"literal_binds": True}
        )
    )
    assert "parent_id IN (SELECT parents.id" in sql and "parents.at <" in sql
