"""Where the real services of this machine are, and what to do when one is missing."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get(
    "PARLOUR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def required() -> bool:
    return os.environ.get("PARLOUR_REQUIRE_SERVICES") == "1"


def missing(what: str, why: str) -> None:
    """Skip with a clear reason, or fail when CI says every service must be there."""
    message = f"{what} is not available: {why}"
    if required():
        pytest.fail(message + " (PARLOUR_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(message)
