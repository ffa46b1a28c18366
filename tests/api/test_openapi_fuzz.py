"""Schema fuzzing: every operation of /api/v1/openapi.json, with valid and invalid input.

Schemathesis generates requests from the app's own OpenAPI document; they are sent in-process
to the app, signed in with a bearer token, in a world with an organisation, colleagues, a
conversation, messages and an invitation (path ids are sometimes the real ones, so requests
get past 'not found'). Whatever comes in, the answer is never a 5xx, and every error is an
application/problem+json document with a stable `code`.

The run is bounded: PARLOUR_FUZZ_EXAMPLES examples per operation and generation mode (6 by
default), no shrinking, no example database.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import update

from parlour.app import create_app
from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.accounts.models import AuthSession
from parlour.settings import Settings
from tests.support.world import (
    direct,
    instance_owner,
    invite,
    member,
    say,
    token_for,
)

EXAMPLES = int(os.environ.get("PARLOUR_FUZZ_EXAMPLES", "6"))
# Operations that would end the fuzzer's own sign-in; they are covered by their own tests.
SKIPPED = {("POST", "/api/v1/auth/signout")}
T = TypeVar("T")


@dataclass
class Fuzzing:
    """The app, running in its own event loop thread, and what was seeded into it."""

    portal: BlockingPortal
    app: FastAPI
    http: httpx.AsyncClient | None = None
    token: str = ""
    ids: dict[str, Any] = field(default_factory=dict)

    def run(self, work: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return self.portal.call(functools.partial(work, *args, **kwargs))


async def seed(app: FastAPI) -> tuple[str, dict[str, Any]]:
    container: Container = app.state.container
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await member(app, owner, "admin")
    conversation = await direct(owner, pat)
    message = await say(pat, conversation, "hello there")
    link = await invite(owner)
    invitations = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/invitations")
    token = await token_for(owner)
    ids: dict[str, Any] = {
        "org_id": owner.org_id,
        "user_id": pat.id,
        "conversation_id": conversation,
        "message_id": message["id"],
        "invitation_id": invitations.json()[0]["id"],
        "secret": link.rsplit("=", 1)[1],
    }
    await pat.close()
    await owner.close()
    return token, ids


@pytest.fixture
def fuzzing(settings: Settings, clock: FixedClock) -> Any:
    """The app's lifespan, the seeding and every request run in one loop, in one thread."""
    with start_blocking_portal() as portal:
        app = create_app(settings, clock)
        lifespan: AbstractAsyncContextManager[None] = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        try:
            state = Fuzzing(portal, app)
            state.token, state.ids = state.run(seed, app)
            state.http = state.run(_client, app)
            yield state
            state.run(state.http.aclose)
        finally:
            portal.call(lifespan.__aexit__, None, None, None)


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=app, client=("203.0.113.99", 45000), raise_app_exceptions=False
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)


def to_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis prepares requests-style arguments; httpx names raw bodies `content`."""
    out = {k: v for k, v in kwargs.items() if k not in ("auth", "cookies", "data")}
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    return out


def verdict(response: httpx.Response) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500:
        return f"server error {response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    kind = response.headers.get("content-type", "")
    if not kind.startswith("application/problem+json"):
        return f"{response.status_code} as {kind!r}, not application/problem+json"
    body = response.json()
    if not isinstance(body, dict) or not body.get("code"):
        return f"{response.status_code} problem without a code: {response.text[:300]}"
    return None


async def refill_budget(app: FastAPI) -> None:
    """The fuzzer confirms random passwords (re-authentication, password and email changes):
    five wrong ones end a session or token, which would leave the rest of the run with 401s."""
    container: Container = app.state.container
    async with container.db.transaction() as uow:
        await uow.session.execute(update(AuthSession).values(reauth_failures=0))
        await uow.commit()


def fuzz_operation(state: Fuzzing, operation: Any, mode: GenerationMode) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    def one(case: Any, real: bool) -> None:
        if real and isinstance(case.path_parameters, dict):
            for name in case.path_parameters:
                if name in state.ids:
                    case.path_parameters[name] = state.ids[name]
        headers = {"Authorization": f"Bearer {state.token}"}
        kwargs = to_httpx(case.as_transport_kwargs(base_url="http://testserver", headers=headers))
        assert state.http is not None
        response = state.run(state.http.request, **kwargs)
        state.run(refill_budget, state.app)
        problem = verdict(response)
        assert problem is None, f"{kwargs['method']} {kwargs['url']}: {problem}"

    one()


def test_no_input_makes_the_api_fail_or_answer_without_a_problem_code(fuzzing: Fuzzing) -> None:
    schema = schemathesis.openapi.from_dict(fuzzing.app.openapi())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(fuzzing, operation, mode)
            except AssertionError as error:
                failures.append(f"[{mode.value}] {str(error).splitlines()[0]}")
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no input at all
            # The token must survive every operation, or the rest would only see 401s.
            me = fuzzing.run(
                fuzzing.http.get,  # type: ignore[union-attr]
                "/api/v1/me",
                headers={"Authorization": f"Bearer {fuzzing.token}"},
            )
            assert me.status_code == 200, f"{operation.label} ended the fuzzer's session"
    assert operations >= 30
    assert not failures, "\n".join(failures)


NASTY = [
    "nul\x00byte",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "x" * 5000,
]


@pytest.mark.parametrize("text", NASTY, ids=["nul", "replacement", "long"])
async def test_awkward_text_is_stored_or_refused_never_a_server_error(
    app: FastAPI, container: Container, text: str
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    conversation = await direct(owner, pat)
    http = owner.http
    answers = [
        await http.post(f"/api/v1/conversations/{conversation}/messages", json={"body": text}),
        await http.patch("/api/v1/me", json={"name": text[:100], "title": text[:100]}),
        await http.get("/api/v1/search", params={"q": text[:200]}),
        await http.get(f"/api/v1/users/{quote(text[:60], safe='')}"),
        await http.get(f"/api/v1/conversations/{quote(text[:60], safe='')}"),
        await http.post(
            "/api/v1/conversations",
            json={"kind": "group", "name": text[:100], "member_ids": [pat.id]},
        ),
        await http.post("/api/v1/auth/signin", json={"email": pat.email, "password": text}),
        await http.put(f"/api/v1/me/contacts/{pat.id}", json={"nickname": text[:100]}),
    ]
    problems = [(r.request.method, r.request.url.path, verdict(r)) for r in answers if verdict(r)]
    assert not problems
