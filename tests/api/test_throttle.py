"""Sign-in throttling per account and per address (P-SEC-3).

The design (accounts/service.py): failures are counted in a fixed window per account (keyed by
the email, whatever address they come from) and per client network (the truncated address,
whatever account they aim at). Either limit refuses further attempts, even with the right
password, until the window that began with the first failure has passed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.settings import Settings
from tests.support.world import PASSWORD, Person, instance_owner, member

WRONG = "definitely not it"


def at(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/signin", json={"email": email, "password": password})


async def fail_times(http: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await attempt(http, email, WRONG)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_credentials"


def assert_throttled(response: httpx.Response, window: int) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "too_many_attempts"
    assert "parlour_session" not in response.cookies
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= window * 60 + 1
    assert problem["retry_after"] == wait
    minutes = max(1, wait // 60)
    assert f"Try again in {minutes} minute{'' if minutes == 1 else 's'}," in problem["detail"]
    return wait


@pytest.fixture
async def pat(app: FastAPI, container: Container) -> Person:
    owner = await instance_owner(app, container)
    return await member(app, owner)


@pytest.mark.promise("P-SEC-3")
async def test_an_account_is_locked_after_its_failures_even_for_the_right_password(
    app: FastAPI, pat: Person, settings: Settings
) -> None:
    limit = settings.signin_max_failures_per_account
    async with at(app, "198.51.100.10") as http:
        await fail_times(http, pat.email, limit)
        assert_throttled(await attempt(http, pat.email, WRONG), settings.signin_window_minutes)
        assert_throttled(await attempt(http, pat.email, PASSWORD), settings.signin_window_minutes)
        token = {"email": pat.email, "password": PASSWORD, "name": "script"}
        assert (await http.post("/api/v1/auth/tokens", json=token)).status_code == 429


@pytest.mark.promise("P-SEC-3")
async def test_the_account_limit_holds_from_any_address(
    app: FastAPI, pat: Person, settings: Settings
) -> None:
    """Spreading guesses over many addresses does not reset the count for one account."""
    limit = settings.signin_max_failures_per_account
    for n in range(limit):
        async with at(app, f"192.0.2.{n + 1}") as http:
            await fail_times(http, pat.email, 1)
    async with at(app, "2001:db8:9999::5") as fresh:
        assert_throttled(await attempt(fresh, pat.email, PASSWORD), settings.signin_window_minutes)


@pytest.mark.promise("P-SEC-3")
async def test_the_lock_lifts_when_the_window_has_passed(
    app: FastAPI, pat: Person, settings: Settings, clock: FixedClock
) -> None:
    limit = settings.signin_max_failures_per_account
    async with at(app, "198.51.100.10") as http:
        await fail_times(http, pat.email, limit)
        clock.advance(timedelta(minutes=1))
        wait = assert_throttled(await attempt(http, pat.email, PASSWORD), 15)
        assert wait <= (settings.signin_window_minutes - 1) * 60 + 1
        clock.advance(timedelta(seconds=wait - 2))
        assert_throttled(await attempt(http, pat.email, PASSWORD), 15)
        clock.advance(timedelta(seconds=2))
        assert (await attempt(http, pat.email, PASSWORD)).status_code == 200
        # A success clears the count: the next mistake is an ordinary one.
        await fail_times(http, pat.email, limit - 1)
        assert (await attempt(http, pat.email, PASSWORD)).status_code == 200


@pytest.mark.promise("P-SEC-3")
async def test_a_success_before_the_limit_starts_the_count_again(
    app: FastAPI, pat: Person, settings: Settings
) -> None:
    limit = settings.signin_max_failures_per_account
    async with at(app, "198.51.100.10") as http:
        await fail_times(http, pat.email, limit - 1)
        assert (await attempt(http, pat.email, PASSWORD)).status_code == 200
        await fail_times(http, pat.email, limit - 1)
        assert (await attempt(http, pat.email, PASSWORD)).status_code == 200


@pytest.mark.promise("P-SEC-3")
async def test_an_address_guessing_across_accounts_is_blocked_but_others_are_not(
    app: FastAPI, container: Container, settings: Settings, clock: FixedClock
) -> None:
    """Credential stuffing: one network trying many accounts hits the per-address limit."""
    owner = await instance_owner(app, container)
    victim = await member(app, owner)
    limit = settings.signin_max_failures_per_address
    async with at(app, "203.0.113.200") as stuffer:
        for n in range(limit):
            response = await attempt(stuffer, f"guess{n}@example.org", WRONG)
            assert response.status_code == 401
        # The same network (its /24) is refused for every account, real ones included.
        assert_throttled(await attempt(stuffer, victim.email, PASSWORD), 15)
    async with at(app, "203.0.113.7") as neighbour:
        assert_throttled(await attempt(neighbour, victim.email, PASSWORD), 15)
    # Another network, and the victim's own account, are untouched.
    async with at(app, "198.51.100.10") as elsewhere:
        assert (await attempt(elsewhere, victim.email, PASSWORD)).status_code == 200
    clock.advance(timedelta(minutes=settings.signin_window_minutes))
    async with at(app, "203.0.113.200") as later:
        assert (await attempt(later, victim.email, PASSWORD)).status_code == 200


@pytest.mark.promise("P-SEC-3")
async def test_a_burst_of_parallel_guesses_is_counted_and_never_fails_the_server(
    app: FastAPI, pat: Person, settings: Settings
) -> None:
    limit = settings.signin_max_failures_per_account
    async with at(app, "198.51.100.10") as http:
        responses = await asyncio.gather(
            *(attempt(http, pat.email, WRONG) for _ in range(limit * 2))
        )
        assert {r.status_code for r in responses} <= {401, 429}
        assert_throttled(await attempt(http, pat.email, PASSWORD), 15)


@pytest.mark.promise("P-SEC-3")
async def test_a_signed_in_session_cannot_guess_the_password_by_confirming_it(
    app: FastAPI, container: Container, pat: Person, settings: Settings
) -> None:
    """Re-authentication (before an export or a deletion) spends the same per-account budget:
    someone holding a stolen session is stopped too, and so is sign-in elsewhere."""
    container.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    limit = settings.signin_max_failures_per_account
    for _ in range(limit):
        wrong = await pat.http.post("/api/v1/auth/reauthenticate", json={"password": WRONG})
        assert wrong.status_code == 401 and wrong.json()["code"] == "reauthentication_required"
    right = await pat.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    assert_throttled(right, settings.signin_window_minutes)
    export = await pat.http.post("/api/v1/me/export")  # the sign-in is too old to count
    assert export.status_code == 401 and export.json()["code"] == "reauthentication_required"
    async with at(app, "203.0.113.7") as http:
        assert_throttled(await attempt(http, pat.email, PASSWORD), settings.signin_window_minutes)
