"""The audit log (P-ADM-2): every admin read or change of a person's data leaves an entry in a
hash chain that `parlour audit verify` checks, that the organisation's admins can page through,
and that the person finds in their own export."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from typer.testing import CliRunner

from parlour.cli import app as cli_app
from parlour.container import Container
from parlour.features.audit.chain import GENESIS
from parlour.settings import Settings
from tests.api.test_pages import signed_in_browser
from tests.privacy.test_export import export_of, rows
from tests.support.world import PASSWORD, Person, direct, instance_owner, member, say, second_org

pytestmark = pytest.mark.promise("P-ADM-2")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_in_process": False})


async def audit_of(admin: Person, **params: object) -> dict[str, object]:
    response = await admin.http.get(f"/api/v1/orgs/{admin.org_id}/audit", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, object] = response.json()
    return page


async def admin_touches(owner: Person, pat: Person) -> None:
    """Every admin path that reads or changes a member's data, once."""
    base = f"/api/v1/orgs/{owner.org_id}"
    assert (await owner.http.get(f"{base}/members")).status_code == 200
    assert (await owner.http.get(f"/api/v1/users/{pat.id}")).status_code == 200
    patch = await owner.http.patch(f"{base}/members/{pat.id}", json={"role": "admin"})
    assert patch.status_code == 200, patch.text
    for status in ("suspended", "active"):
        response = await owner.http.patch(f"{base}/members/{pat.id}", json={"status": status})
        assert response.status_code == 200, response.text
    assert (await owner.http.post(f"{base}/members/{pat.id}/password-reset")).status_code == 202
    hold = await owner.http.post(f"{base}/holds", json={"user_id": pat.id, "reason": "court order"})
    assert hold.status_code == 201, hold.text
    lift = await owner.http.delete(f"{base}/holds/{hold.json()['id']}")
    assert lift.status_code == 204
    assert (await owner.http.get(f"{base}/usage/messages")).status_code == 200


async def sign_in_again(person: Person) -> None:
    """A suspension ended the person's sessions; once reactivated they sign in anew."""
    person.http.cookies.clear()
    response = await person.http.post(
        "/api/v1/auth/signin", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    person.http.headers["X-CSRF-Token"] = response.json()["csrf_token"]


def verify(settings: Settings) -> tuple[int, str]:
    env = {
        "PARLOUR_DATABASE_URL": settings.resolved_database_url,
        "PARLOUR_DATA_DIR": str(settings.data_dir),
        "PARLOUR_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
    }
    result = CliRunner().invoke(cli_app, ["audit", "verify"], env=env)
    return result.exit_code, result.output


async def test_each_admin_action_is_recorded_with_fields_and_never_values(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await say(pat, await direct(pat, owner), "hello")
    await admin_touches(owner, pat)
    page = await audit_of(owner)
    entries = [e for e in page["entries"] if e["subject_user_id"] == pat.id]  # type: ignore[union-attr]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == [
        "profile.read",
        "member.role_change",
        "member.suspend",
        "member.reactivate",
        "member.password_reset",
        "hold.place",
        "hold.lift",
        "usage.read",
    ]
    assert all(e["actor_id"] == owner.id and e["actor_role"] == "owner" for e in entries)
    assert entries[-1]["fields"] == sorted(
        ["name", "email", "phone", "title", "department", "location", "role", "status"]
    )
    assert pat.email not in json.dumps(page)
    # A member's own reads of colleagues are not admin access and are not recorded.
    before = len(page["entries"])  # type: ignore[arg-type]
    colleague = await member(app, owner)
    assert (await colleague.http.get(f"/api/v1/users/{pat.id}")).status_code == 200
    assert len((await audit_of(owner))["entries"]) == before  # type: ignore[arg-type]


async def test_listing_the_members_writes_nothing_while_a_change_still_does(
    app: FastAPI, container: Container
) -> None:
    """An admin's routine view of the organisation they manage is not a disclosure: the member
    list (API, organisation page, holds page) adds no entry; what they do to someone does."""
    owner = await instance_owner(app, container)
    admin = await member(app, owner, "admin")
    pat = await member(app, owner)
    http = await signed_in_browser(app, admin.email)
    for _ in range(3):
        listed = await admin.http.get(f"/api/v1/orgs/{owner.org_id}/members")
        assert listed.status_code == 200
        for path in ("/org", "/org/privacy/holds"):
            assert (await http.get(path)).status_code == 200
    assert (await audit_of(owner))["entries"] == []
    changed = await admin.http.patch(
        f"/api/v1/orgs/{owner.org_id}/members/{pat.id}", json={"role": "admin"}
    )
    assert changed.status_code == 200, changed.text
    (entry,) = (await audit_of(owner))["entries"]  # type: ignore[misc]
    assert entry["action"] == "member.role_change" and entry["subject_user_id"] == pat.id


async def test_only_the_organisations_admins_read_its_log_page_by_page(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    for _ in range(3):
        await owner.http.get(f"/api/v1/users/{pat.id}")
    first = await audit_of(owner, limit=2)
    second = await audit_of(owner, limit=2, cursor=first["next_cursor"])
    seqs = [e["seq"] for e in first["entries"] + second["entries"]]  # type: ignore[operator]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 3
    assert second["next_cursor"] is None
    other = await second_org(app, owner)
    for outsider in (other, pat):
        response = await outsider.http.get(f"/api/v1/orgs/{owner.org_id}/audit")
        assert response.status_code == 404, response.text
    bad = await owner.http.get(f"/api/v1/orgs/{owner.org_id}/audit", params={"cursor": "x"})
    assert bad.status_code == 422


async def test_verify_holds_then_fails_on_a_changed_entry(
    app: FastAPI, container: Container, settings: Settings
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await admin_touches(owner, pat)
    code, output = await asyncio.to_thread(verify, settings)
    assert code == 0, output
    assert "The audit log holds" in output
    async with container.db.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET action = 'profile.glance' WHERE seq = 3"))
    code, output = await asyncio.to_thread(verify, settings)
    assert code == 1
    assert "audit entry 3" in output and "changed" in output


async def test_verify_fails_when_an_entry_is_deleted(
    app: FastAPI, container: Container, settings: Settings
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await admin_touches(owner, pat)
    async with container.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    code, output = await asyncio.to_thread(verify, settings)
    assert code == 1
    assert "audit entry 5" in output and "missing" in output
    async with container.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    result = await container.audit.verify()
    assert result.broken is not None and result.broken.seq == 2


async def test_the_chain_starts_at_genesis_and_each_entry_follows_the_last(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    await admin_touches(owner, pat)
    async with container.db.engine.connect() as conn:
        chain = (
            await conn.execute(text("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq"))
        ).all()
    assert chain[0].seq == 1 and chain[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    assert [r.seq for r in chain] == list(range(1, len(chain) + 1))


async def test_my_export_holds_what_admins_did_with_my_data(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    pat = await member(app, owner)
    base = f"/api/v1/orgs/{owner.org_id}/members/{pat.id}"
    for status in ("suspended", "active"):
        assert (await owner.http.patch(base, json={"status": status})).status_code == 200
    await sign_in_again(pat)
    _id, archive = await export_of(pat, container)
    entries = rows(archive, "audit_log")
    assert [e["action"] for e in entries] == ["member.suspend", "member.reactivate"]
    assert all(e["subject_user_id"] == pat.id for e in entries)
    assert any(e["actor_id"] == owner.id for e in entries)
