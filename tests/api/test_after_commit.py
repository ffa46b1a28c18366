"""After a commit, a failed wake-up (the bus down, say) never turns saved data into an error."""

from __future__ import annotations

import logging

import pytest

from parlour.container import Container


async def test_a_failing_hook_neither_fails_the_commit_nor_skips_the_others(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise ConnectionError("the bus is down")

    async def fine() -> None:
        ran.append("fine")

    with caplog.at_level(logging.WARNING, logger="parlour.db.uow"):
        async with container.db.transaction() as uow:
            uow.after_commit(broken)
            uow.after_commit(fine)
            await uow.commit()
    assert ran == ["fine"]
    (record,) = [r for r in caplog.records if r.getMessage() == "after-commit hook failed"]
    assert record.error == "ConnectionError"  # type: ignore[attr-defined]
