"""Two-factor sign-in: authenticator app, recovery codes, passkeys, the org rule (P-ACC-6).

Codes come from pyotp with the secret the enrolment hands out, at the test's fixed clock; the
passkey is a software authenticator that signs like a real one (tests/support/authenticator.py).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pyotp
import pytest
import websockets
from fastapi import FastAPI
from sqlalchemy import select

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.features.audit.models import AuditEntry
from parlour.features.mfa.models import RecoveryCode, TotpSecret
from parlour.features.mfa.sealing import Sealer
from parlour.settings import Settings
from tests.conftest import make_client
from tests.support.authenticator import SoftPasskey
from tests.support.html import parse_html
from tests.support.live import serving
from tests.support.world import PASSWORD, Person, instance_owner, member, token_for

BASE = "/api/v1/me/second-factor"
STEP = timedelta(seconds=30)


def code_at(secret: str, clock: FixedClock) -> str:
    return pyotp.TOTP(secret).at(clock.now())


async def enrol(person: Person, clock: FixedClock) -> tuple[str, list[str]]:
    """Turns the app on; the clock then moves a step on, so the next code is a fresh one."""
    started = await person.http.post(BASE + "/totp")
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    assert started.json()["uri"].startswith("otpauth://totp/")
    confirmed = await person.http.post(
        BASE + "/totp/confirm", json={"code": code_at(secret, clock)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(STEP)
    return secret, confirmed.json()["recovery_codes"]


async def sign_in(app: FastAPI, email: str, **extra: str) -> httpx.Response:
    async with make_client(app) as http:
        body = {"email": email, "password": PASSWORD, **extra}
        return await http.post("/api/v1/auth/signin", json=body)


def problem_code(response: httpx.Response) -> str:
    code: str = response.json()["code"]
    return code


@pytest.fixture
async def pat(app: FastAPI, container: Container) -> Person:
    owner = await instance_owner(app, container)
    return await member(app, owner)


@pytest.mark.promise("P-ACC-6")
async def test_a_confirmed_app_is_asked_for_at_sign_in(
    app: FastAPI, pat: Person, clock: FixedClock
) -> None:
    started = await pat.http.post(BASE + "/totp")
    secret = started.json()["secret"]
    # Not on until a first code proves the app has the secret: the password still suffices.
    assert (await sign_in(app, pat.email)).status_code == 200
    wrong = await pat.http.post(BASE + "/totp/confirm", json={"code": "000000"})
    assert wrong.status_code == 401 and problem_code(wrong) == "second_factor_invalid"
    codes = (
        await pat.http.post(BASE + "/totp/confirm", json={"code": code_at(secret, clock)})
    ).json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    clock.advance(STEP)

    without = await sign_in(app, pat.email)
    assert without.status_code == 401, without.text
    assert problem_code(without) == "second_factor_required"
    assert "parlour_session" not in without.cookies
    wrong_code = await sign_in(app, pat.email, code="123456")
    assert problem_code(wrong_code) == "second_factor_invalid"
    assert "parlour_session" not in wrong_code.cookies
    right = await sign_in(app, pat.email, code=code_at(secret, clock))
    assert right.status_code == 200, right.text
    assert "parlour_session" in right.cookies
    status = (await pat.http.get(BASE)).json()
    assert status["totp"] is True and status["recovery_codes_left"] == 10


@pytest.mark.promise("P-ACC-6")
async def test_a_code_works_once(app: FastAPI, pat: Person, clock: FixedClock) -> None:
    secret, _codes = await enrol(pat, clock)
    code = code_at(secret, clock)
    assert (await sign_in(app, pat.email, code=code)).status_code == 200
    replayed = await sign_in(app, pat.email, code=code)
    assert replayed.status_code == 401 and problem_code(replayed) == "second_factor_invalid"
    # The code of the step before is older than the one used: refused as well.
    earlier = pyotp.TOTP(secret).at(clock.now() - STEP)
    assert problem_code(await sign_in(app, pat.email, code=earlier)) == "second_factor_invalid"
    clock.advance(STEP)
    assert (await sign_in(app, pat.email, code=code_at(secret, clock))).status_code == 200


@pytest.mark.promise("P-ACC-6")
async def test_a_recovery_code_works_once(
    app: FastAPI, pat: Person, clock: FixedClock, container: Container
) -> None:
    _secret, codes = await enrol(pat, clock)
    typed = codes[3].upper().replace("-", " ")  # case, spaces and dashes do not matter
    assert (await sign_in(app, pat.email, code=typed)).status_code == 200
    again = await sign_in(app, pat.email, code=codes[3])
    assert again.status_code == 401 and problem_code(again) == "second_factor_invalid"
    assert (await pat.http.get(BASE)).json()["recovery_codes_left"] == 9
    async with container.db.transaction() as uow:
        stored = list(await uow.session.scalars(select(RecoveryCode.code_digest)))
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)  # digests, never the codes

    fresh = await pat.http.post(BASE + "/recovery-codes", json={"password": PASSWORD})
    assert fresh.status_code == 200, fresh.text
    assert problem_code(await sign_in(app, pat.email, code=codes[0])) == "second_factor_invalid"
    new_code = fresh.json()["recovery_codes"][0]
    assert (await sign_in(app, pat.email, code=new_code)).status_code == 200


@pytest.mark.promise("P-SEC-2")
async def test_the_app_secret_is_encrypted_at_rest(
    pat: Person, clock: FixedClock, container: Container
) -> None:
    secret, _codes = await enrol(pat, clock)
    async with container.db.transaction() as uow:
        sealed = await uow.session.scalar(select(TotpSecret.sealed_secret))
    assert sealed is not None and sealed.startswith("v1:")
    assert secret not in sealed and secret.lower() not in sealed.lower()


@pytest.mark.promise("P-SEC-3")
async def test_wrong_codes_spend_the_sign_in_budget(
    app: FastAPI, pat: Person, clock: FixedClock, settings: Settings
) -> None:
    secret, _codes = await enrol(pat, clock)
    limit = settings.signin_max_failures_per_account
    for n in range(limit):
        # A right password in between must not reset the count of wrong codes.
        assert problem_code(await sign_in(app, pat.email)) == "second_factor_required"
        guess = f"{n:06d}"
        assert problem_code(await sign_in(app, pat.email, code=guess)) == "second_factor_invalid"
    blocked = await sign_in(app, pat.email, code=code_at(secret, clock))
    assert blocked.status_code == 429, blocked.text
    assert problem_code(blocked) == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) > 0
    clock.advance(timedelta(minutes=settings.signin_window_minutes, seconds=1))
    assert (await sign_in(app, pat.email, code=code_at(secret, clock))).status_code == 200


@pytest.mark.promise("P-ACC-6")
async def test_api_tokens_need_the_second_factor(
    app: FastAPI, pat: Person, clock: FixedClock
) -> None:
    secret, _codes = await enrol(pat, clock)
    body = {"email": pat.email, "password": PASSWORD, "name": "ci"}
    async with make_client(app) as http:
        refused = await http.post("/api/v1/auth/tokens", json=body)
        assert refused.status_code == 401 and problem_code(refused) == "second_factor_required"
        assert "token" not in refused.json()
        made = await http.post("/api/v1/auth/tokens", json={**body, "code": code_at(secret, clock)})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
    async with make_client(app) as api:
        me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["id"] == pat.id


async def _visitor_signin(http: httpx.AsyncClient, email: str) -> httpx.Response:
    """The password on the sign-in page, as a browser sends it."""
    http.headers["accept"] = "text/html"
    csrf = parse_html((await http.get("/signin")).text).csrf
    return await http.post(
        "/signin",
        data={"email": email, "password": PASSWORD, "next": "/profile", "csrf_token": csrf},
    )


@pytest.mark.promise("P-ACC-6")
async def test_the_sign_in_page_asks_for_the_second_step(
    app: FastAPI, pat: Person, clock: FixedClock
) -> None:
    secret, _codes = await enrol(pat, clock)
    async with make_client(app) as http:
        first = await _visitor_signin(http, pat.email)
        assert first.status_code == 303
        assert first.headers["location"] == "/signin/verify?next=/profile"
        assert "parlour_session" not in first.cookies and "parlour_second_step" in first.cookies
        step_page = await http.get("/signin/verify?next=/profile")
        assert step_page.status_code == 200
        parsed = parse_html(step_page.text)
        assert parsed.field("code")["autocomplete"] == "one-time-code"
        assert (await http.get("/profile")).status_code == 303  # still signed out
        form = {"csrf_token": parsed.csrf, "next": "/profile"}
        wrong = await http.post("/signin/verify", data={**form, "code": "111111"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        done = await http.post("/signin/verify", data={**form, "code": code_at(secret, clock)})
        assert done.status_code == 303 and done.headers["location"] == "/profile"
        assert "parlour_session" in done.cookies
        assert (await http.get("/profile")).status_code == 200

    # A forged or stale second-step cookie leads back to the password.
    async with make_client(app) as stranger:
        stranger.cookies.set("parlour_second_step", "forged.value.here")
        back = await stranger.get("/signin/verify", headers={"accept": "text/html"})
        assert back.status_code == 303 and back.headers["location"].startswith("/signin?")


@pytest.mark.promise("P-ACC-5")
async def test_turning_the_app_off_needs_the_password(
    app: FastAPI, pat: Person, clock: FixedClock
) -> None:
    await enrol(pat, clock)
    wrong = await pat.http.post(BASE + "/totp/disable", json={"password": "not it at all"})
    assert wrong.status_code == 401 and problem_code(wrong) == "reauthentication_required"
    assert wrong.json()["tries_left"] == 4
    assert (await pat.http.get(BASE)).json()["totp"] is True
    off = await pat.http.post(BASE + "/totp/disable", json={"password": PASSWORD})
    assert off.status_code == 204, off.text
    status = (await pat.http.get(BASE)).json()
    assert status == {**status, "totp": False, "recovery_codes_left": 0}
    assert (await sign_in(app, pat.email)).status_code == 200


async def test_organisations_can_require_a_second_factor(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    admin = await member(app, owner, "admin")
    path = f"/api/v1/orgs/{owner.org_id}/second-factor"
    lockout = await owner.http.put(path, json={"required": True})
    assert lockout.status_code == 409, lockout.text  # the owner has none yet
    assert (await admin.http.put(path, json={"required": True})).status_code == 403
    assert (await pat.http.put(path, json={"required": True})).status_code == 404
    await enrol(owner, clock)
    assert (await owner.http.put(path, json={"required": True})).json() == {"required": True}

    refused = await pat.http.get("/api/v1/me")
    assert refused.status_code == 403, refused.text
    assert problem_code(refused) == "second_factor_enrolment_required"
    page = await pat.http.get("/chat", headers={"accept": "text/html"})
    assert page.status_code == 303
    assert page.headers["location"] == "/profile/security?notice=required"
    security = await pat.http.get("/profile/security", headers={"accept": "text/html"})
    assert security.status_code == 200 and "requires two-factor sign-in" in security.text
    assert (await pat.http.get(BASE)).json()["required_by_organisation"] is True
    await enrol(pat, clock)
    assert (await pat.http.get("/api/v1/me")).status_code == 200
    assert (await owner.http.get("/api/v1/me")).status_code == 200


@pytest.mark.promise("P-ACC-6")
async def test_a_passkey_finishes_sign_in_and_a_clone_is_refused(
    app: FastAPI, pat: Person, settings: Settings
) -> None:
    origin = settings.base_url
    key = SoftPasskey(origin, "127.0.0.1")
    options = (await pat.http.post(BASE + "/passkeys/options")).json()
    assert options["rp"]["id"] == "127.0.0.1"
    bad = await pat.http.post(
        BASE + "/passkeys", json={"name": "Laptop", "credential": {"id": "x", "response": {}}}
    )
    assert bad.status_code in (400, 422), bad.text  # the challenge is spent too
    options = (await pat.http.post(BASE + "/passkeys/options")).json()
    added = await pat.http.post(
        BASE + "/passkeys", json={"name": "Laptop", "credential": key.create(options)}
    )
    assert added.status_code == 201, added.text
    assert added.json()["passkey"]["name"] == "Laptop"
    assert len(added.json()["recovery_codes"]) == 10  # the first factor brings them

    async def with_passkey(passkey: SoftPasskey) -> httpx.Response:
        async with make_client(app) as http:
            first = await _visitor_signin(http, pat.email)
            assert first.status_code == 303, first.text
            headers = {"x-csrf-token": http.cookies["parlour_csrf"]}
            got = await http.post("/api/v1/auth/second-step/passkey/options", headers=headers)
            assert got.status_code == 200, got.text
            body = {"credential": passkey.get(got.json()), "next": "/chat"}
            return await http.post("/api/v1/auth/second-step/passkey", json=body, headers=headers)

    done = await with_passkey(key)
    assert done.status_code == 200, done.text
    assert done.json() == {"redirect": "/chat"} and "parlour_session" in done.cookies
    key.count = 0  # a clone that has not seen the last signature: its counter is behind
    cloned = await with_passkey(key)
    assert cloned.status_code == 401 and problem_code(cloned) == "second_factor_invalid"
    stranger = SoftPasskey(origin, "127.0.0.1")
    stranger.credential_id = key.credential_id
    forged = await with_passkey(stranger)  # the right id, but another key's signature
    assert problem_code(forged) == "second_factor_invalid"


async def test_passkey_steps_need_the_visitor_token(app: FastAPI, pat: Person) -> None:
    async with make_client(app) as http:
        await _visitor_signin(http, pat.email)
        refused = await http.post("/api/v1/auth/second-step/passkey/options")
        assert refused.status_code == 403 and problem_code(refused) == "csrf_failed"


async def test_the_audit_log_names_events_and_never_secrets(
    app: FastAPI, pat: Person, clock: FixedClock, container: Container
) -> None:
    secret, codes = await enrol(pat, clock)
    await sign_in(app, pat.email, code="000000")
    await sign_in(app, pat.email, code=codes[0])
    await pat.http.post(BASE + "/totp/disable", json={"password": PASSWORD})
    entries = await container.audit.about(pat.id)
    actions = [e.action for e in entries]
    for action in (
        "mfa.recovery_codes_issued",
        "mfa.totp_enabled",
        "mfa.second_factor_refused",
        "mfa.recovery_code_used",
        "mfa.totp_disabled",
    ):
        assert action in actions, actions
    async with container.db.transaction() as uow:
        rows = list(await uow.session.scalars(select(AuditEntry)))
    dumped = json.dumps([[r.action, r.fields, r.request_id] for r in rows])
    assert secret not in dumped and codes[0] not in dumped and "000000" not in dumped


async def test_an_unreadable_secret_refuses_codes_without_a_fault(
    app: FastAPI, pat: Person, clock: FixedClock, container: Container
) -> None:
    """After the instance's secret key changed, the stored secret no longer opens: codes are
    refused like wrong ones (recovery codes still work), never a 500."""
    secret, recovery = await enrol(pat, clock)
    async with container.db.transaction() as uow:
        row = await uow.session.scalar(select(TotpSecret))
        assert row is not None
        row.sealed_secret = Sealer(b"another instance key 0123456789", "totp").seal(secret, pat.id)
        await uow.commit()
    refused = await sign_in(app, pat.email, code=code_at(secret, clock))
    assert refused.status_code == 401 and problem_code(refused) == "second_factor_invalid"
    assert (await sign_in(app, pat.email, code=recovery[0])).status_code == 200


async def test_security_page_forms_keep_the_person_on_the_page(
    app: FastAPI, pat: Person, clock: FixedClock
) -> None:
    await enrol(pat, clock)
    http = pat.http
    http.headers["accept"] = "text/html"
    csrf = parse_html((await http.get("/profile/security")).text).csrf
    wrong = await http.post(
        "/profile/security/recovery-codes",
        data={"csrf_token": csrf, "recovery_password": "not the password"},
    )
    assert wrong.status_code == 401
    field = parse_html(wrong.text).field("recovery_password")
    assert field.get("aria-invalid") == "true"
    fresh = await http.post(
        "/profile/security/recovery-codes", data={"csrf_token": csrf, "recovery_password": PASSWORD}
    )
    assert fresh.status_code == 200 and fresh.text.count("<li><code>") == 10
    off = await http.post(
        "/profile/security/totp/disable", data={"csrf_token": csrf, "password": PASSWORD}
    )
    assert off.status_code == 303 and off.headers["location"].endswith("notice=totp-off")
    assert "Set up an authenticator app" in (await http.get("/profile/security")).text


async def test_the_stream_stays_closed_until_the_member_enrols(
    app: FastAPI, container: Container, clock: FixedClock
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    token = await token_for(pat)
    await enrol(owner, clock)
    path = f"/api/v1/orgs/{owner.org_id}/second-factor"
    assert (await owner.http.put(path, json={"required": True})).status_code == 200
    async with serving(app) as address:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"ws://{address}/api/v1/stream"
        async with websockets.connect(url, additional_headers=headers) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["code"] == "second_factor_enrolment_required"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        await enrol(pat, clock)
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
