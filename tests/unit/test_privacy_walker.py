"""The declarations that export and erasure walk are complete and consistent."""

from __future__ import annotations

from parlour.db.models import Base
from parlour.features.privacy.archive import exportable
from parlour.features.privacy.datamap import subject_of
from parlour.features.privacy.walker import (
    Identity,
    blob_columns,
    personal_columns,
    selections,
    shared_where,
    spaces,
)

WHO = Identity("u" * 32, "u@example.org")


def test_every_shared_path_leads_to_a_space_someone_is_granted() -> None:
    member_of = spaces(Base.metadata, WHO)
    assert "conversations" in member_of
    for table in Base.metadata.tables.values():
        subject = subject_of(table)
        if subject is not None and subject.shared_via is not None:
            assert shared_where(table, subject, member_of) is not None, table.name


def test_shared_columns_and_about_columns_belong_to_tables_that_say_who_sees_them() -> None:
    for table in Base.metadata.tables.values():
        subject = subject_of(table)
        shared = [c.name for c, d in personal_columns(table) if d.shared]
        if shared:
            assert subject is not None and (subject.shared_via or subject.about), table.name
        if subject is not None and subject.about is not None:
            assert subject.about in table.columns, table.name


def test_blobs_are_declared_with_their_prefix() -> None:
    prefixes = {d.blob for t in Base.metadata.tables.values() for _c, d in blob_columns(t)}
    assert {"avatars", "exports"} <= prefixes


def test_the_export_reaches_profile_messages_and_what_others_wrote() -> None:
    chosen = {(s.table.name, s.relation) for s in selections(Base.metadata, WHO)}
    assert {("users", "own"), ("messages", "own"), ("messages", "shared")} <= chosen
    assert ("contacts", "about") in chosen
    assert ("users", "shared") not in chosen  # other people's profiles never
    names = {t.name for t in exportable(Base.metadata)}
    assert "signin_failures" not in names  # pseudonymous, not reachable from a person
