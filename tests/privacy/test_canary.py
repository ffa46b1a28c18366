"""The canary: a unique marker in every personal field and blob of a person, planted from the
data map; their export holds every one of them and nobody else's, and after their erasure none
is left in the database files, the blob store, the search index or the logs.

The markers are planted by walking the data map, not from a list of tables: for every table
whose subject reference reaches the person, every personal text column of their rows gets a
value carrying a marker of its own (ids excepted: columns of category ``user.unique_id`` hold
identifiers, which are checked as ids). A second person, V, gets markers of their own and must
never appear in U's export. A third, W, shares conversations with U: W's message text belongs
in U's export (it is part of U's communications), W's profile does not.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import String, Table, Text, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlour.container import Container
from parlour.db.models import Base
from parlour.features.privacy.datamap import DERIVED_TABLES
from parlour.features.privacy.walker import USER_ID, Identity, own_where, personal_columns
from parlour.settings import Settings
from tests.api.test_profile import noise_png
from tests.contracts.test_smtp import Inbox, free_port
from tests.support.authenticator import SoftPasskey
from tests.support.world import PASSWORD, Person, direct, instance_owner, join, member, say

pytestmark = pytest.mark.promise("P-RIGHTS-1", "P-RIGHTS-2", "P-RIGHTS-4")

# The one personal column left alone: with a marker in it the account could not make the
# requests this test is about (only active accounts are served).
UNPLANTED = {"users.status"}


@dataclass
class Canary:
    """The markers of one person: one per planted column, plus one in each of their blobs."""

    person: Person
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    columns: dict[str, str] = field(default_factory=dict)  # "table.column" -> marker
    exported: dict[str, bool] = field(default_factory=dict)
    blobs: list[str] = field(default_factory=list)

    def marker(self, name: str) -> str:
        if name not in self.columns:
            self.columns[name] = f"zq{self.tag}{len(self.columns):03d}"
        return self.columns[name]

    def all(self) -> set[str]:
        return set(self.columns.values()) | set(self.blobs)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def settings(settings: Settings, smtp: tuple[Inbox, int]) -> Settings:
    """Mail is delivered (the dev outbox would keep it), jobs run when the test says so."""
    return settings.model_copy(
        update={
            "worker_in_process": False,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "smtp_starttls": False,
        }
    )


def _value(column_type: object, marker: str, length: int | None) -> str:
    value = f"{marker} canary" if (length or 1000) >= 20 else marker
    assert length is None or len(marker) <= length, f"marker too long for {column_type}"
    return value[: length or None]


async def plant(container: Container, canary: Canary) -> None:
    """Writes a marker into every personal text column of every row the data map ties to the
    person; tables tied by email first, while the old address still finds them."""
    async with container.db.transaction() as uow:
        email = await uow.session.scalar(
            text("SELECT email FROM users WHERE id = :id"), {"id": canary.person.id}
        )
    who = Identity(canary.person.id, str(email))
    users = Base.metadata.tables["users"]
    tables = [t for t in Base.metadata.sorted_tables if t is not users] + [users]
    async with container.db.transaction() as uow:
        for table in tables:
            await _plant_table(uow.session, table, who, canary)
        await uow.commit()
    canary.person.email = canary.columns["users.email"] + "@canary.example"


async def _plant_table(session: AsyncSession, table: Table, who: Identity, canary: Canary) -> None:
    where = own_where(table, who)
    if where is None:
        return
    pk = list(table.primary_key.columns)
    ids = list(await session.execute(select(*pk).where(where)))
    if not ids:
        return
    rows = pk[0].in_([i[0] for i in ids]) if len(pk) == 1 else tuple_(*pk).in_(ids)
    planted: dict[str, str] = {}
    for column, decl in personal_columns(table):
        name = f"{table.name}.{column.name}"
        if (
            name in UNPLANTED
            or decl.blob is not None
            or decl.category.startswith(USER_ID)
            or not isinstance(column.type, String | Text)
        ):
            continue
        # Only where the field holds something of theirs, and in the shape it holds it.
        sample = await session.scalar(select(column).where(rows, column.is_not(None)).limit(1))
        if sample is None:
            continue
        value = _planted_value(canary, name, decl.category, column, str(sample))
        await session.execute(
            update(table).where(rows, column.is_not(None)).values({column.name: value})
        )
        planted[column.name] = value
        canary.exported[name] = decl.exported
    await _reindex(session, table, planted, ids)


def _planted_value(canary: Canary, name: str, category: str, column: Any, sample: str) -> str:
    if category == "user.contact.email":  # one new address, so the rows still find them
        canary.columns[name] = canary.marker("users.email")
        return canary.marker("users.email") + "@canary.example"
    marker = canary.marker(name)
    if sample.startswith("{"):  # a JSON object stays one, so its reader still works
        return json.dumps({"canary": marker})
    return _value(column.type, marker, getattr(column.type, "length", None))


async def _reindex(
    session: AsyncSession, table: Table, values: dict[str, str], ids: list[Any]
) -> None:
    """SQLite's full-text copy is kept by the app on write; keep it in step with the plant."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for derived, source in DERIVED_TABLES.items():
        source_table, source_column = source.split(".")
        if source_table != table.name or source_column not in values:
            continue
        for (row_id,) in ids:
            await session.execute(
                text(f"DELETE FROM {derived} WHERE rowid = :id"),  # noqa: S608 - data map names
                {"id": row_id},
            )
            await session.execute(
                text(f"INSERT INTO {derived}(rowid, {source_column}) VALUES (:id, :v)"),  # noqa: S608
                {"id": row_id, "v": values[source_column]},
            )


def plant_blobs(settings: Settings, container_user_avatar: str | None, canary: Canary) -> None:
    """The person's picture gets a marker inside its bytes."""
    if container_user_avatar is None:
        return
    path = settings.data_dir / "blobs" / container_user_avatar
    marker = f"zq{canary.tag}blob"
    path.write_bytes(path.read_bytes() + marker.encode())
    canary.blobs.append(marker)


async def avatar_key(container: Container, user_id: str) -> str | None:
    async with container.db.transaction() as uow:
        key = await uow.session.scalar(
            text("SELECT avatar_key FROM users WHERE id = :id"), {"id": user_id}
        )
    return None if key is None else str(key)


async def build_life(app: FastAPI, container: Container) -> tuple[Person, Person, Person]:
    """U, V and W, each with a profile, a picture, conversations, reactions, contacts, a block,
    a token, a password reset; U shares conversations with W, V only with the owner."""
    owner = await instance_owner(app, container)
    invited = await owner.http.post(
        f"/api/v1/orgs/{owner.org_id}/invitations", json={"email": "u-to-be@example.org"}
    )
    assert invited.status_code == 201, invited.text
    u = await join(app, invited.json()["link"], email="u-to-be@example.org")
    v, w = await member(app, owner), await member(app, owner)
    for person in (u, v, w):
        await _profile(person)
        await _second_factors(person, container)
    group = await u.http.post(
        "/api/v1/conversations",
        json={"kind": "group", "name": "U's group", "member_ids": [w.id, owner.id]},
    )
    assert group.status_code == 201, group.text
    pair = await direct(u, w)
    for conversation in (group.json()["id"], pair):
        mine = await say(u, conversation, "U writes here")
        await say(w, conversation, "W answers here")
        reacted = await u.http.put(f"/api/v1/messages/{mine['id']}/reactions/👍")
        assert reacted.status_code == 200, reacted.text
    await say(v, await direct(v, owner), "V writes elsewhere")
    for person, other in ((u, w), (v, owner), (w, u)):
        saved = await person.http.put(
            f"/api/v1/me/contacts/{other.id}", json={"nickname": "a colleague"}
        )
        assert saved.status_code == 200, saved.text
        assert (await person.http.put(f"/api/v1/me/blocks/{owner.id}")).status_code == 204
        assert (await person.http.put(f"/api/v1/me/blocks/{owner.id}")).status_code == 204
    return u, v, w


async def _second_factors(person: Person, container: Container) -> None:
    """An authenticator app being set up and a passkey: their rows hold personal data too."""
    assert (await person.http.post("/api/v1/me/second-factor/totp")).status_code == 201
    key = SoftPasskey(container.passkeys.origin, container.passkeys.rp_id)
    options = (await person.http.post("/api/v1/me/second-factor/passkeys/options")).json()
    added = await person.http.post(
        "/api/v1/me/second-factor/passkeys",
        json={"name": "Phone", "credential": key.create(options)},
    )
    assert added.status_code == 201, added.text


async def _profile(person: Person) -> None:
    changed = await person.http.patch(
        "/api/v1/me",
        json={"phone": "+44 20 7946 0000", "title": "T", "department": "D", "location": "L"},
    )
    assert changed.status_code == 200, changed.text
    picture = await person.http.put(
        "/api/v1/me/avatar", files={"avatar": ("me.png", noise_png(200), "image/png")}
    )
    assert picture.status_code == 200, picture.text
    token = await person.http.post(
        "/api/v1/auth/tokens", json={"email": person.email, "password": PASSWORD, "name": "cli"}
    )
    assert token.status_code == 201, token.text
    consent = await person.http.put(
        "/api/v1/me/consents", json={"purposes": {"analytics": {"consent": True}}}
    )
    assert consent.status_code == 200, consent.text
    reset = await person.http.post("/api/v1/auth/password-reset", json={"email": person.email})
    assert reset.status_code == 202, reset.text
    reauth = await person.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    assert reauth.status_code == 204, reauth.text


def zip_text(data: bytes) -> bytes:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return b"\n".join(archive.read(name) for name in archive.namelist())


async def export_bytes(container: Container, person: Person) -> bytes:
    response = await person.http.post("/api/v1/me/export")
    assert response.status_code == 202, response.text
    await container.jobs.run_due()
    [listed] = (await person.http.get("/api/v1/me/exports")).json()
    download = await person.http.get(listed["download_url"])
    assert download.status_code == 200
    return zip_text(download.content)


def files_under(folder: Path) -> Iterator[Path]:
    for root, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(root) / name


def found_in(markers: set[str], blobs: list[bytes]) -> set[str]:
    return {m for m in markers if any(m.encode() in b for b in blobs)}


async def database_bytes(container: Container, settings: Settings) -> list[bytes]:
    """SQLite: the database, -wal and -shm files after a checkpoint. PostgreSQL: every text
    column of every table, as the server returns it."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        async with container.db.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = Path(url.split("///", 1)[1])
        return [p.read_bytes() for p in path.parent.glob(path.name + "*")]
    chunks: list[bytes] = []
    async with container.db.engine.connect() as conn:
        columns = await conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
            )
        )
        for table, column in list(columns):
            values = await conn.execute(text(f'SELECT "{column}" FROM "{table}"'))  # noqa: S608
            chunks.append("\n".join(str(v) for (v,) in values).encode())
    return chunks


async def search_hits(container: Container, marker: str) -> int:
    async with container.db.engine.connect() as conn:
        if container.db.engine.dialect.name == "sqlite":
            query = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH :q"
            return int((await conn.execute(text(query), {"q": f'"{marker}"'})).scalar_one())
        query = (
            "SELECT count(*) FROM messages WHERE to_tsvector('simple', coalesce(body, '')) "
            "@@ plainto_tsquery('simple', :q)"
        )
        return int((await conn.execute(text(query), {"q": marker})).scalar_one())


async def wait_for_receipt(inbox: Inbox, container: Container) -> str:
    for _ in range(400):
        for _rcpt, message in inbox.messages:
            if message["Subject"] == "Your Parlour account is erased":
                pending = [m for m in await container.mailer.recent() if m.status == "pending"]
                if not pending:
                    payload = message.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    return payload.decode()
        await asyncio.sleep(0.05)
    raise AssertionError("the erasure receipt was not delivered")


async def test_canary_export_holds_every_marker_and_erasure_leaves_none(
    app: FastAPI,
    container: Container,
    settings: Settings,
    smtp: tuple[Inbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # drivers log SQL parameters at DEBUG; the app keeps them
    caplog.set_level(logging.DEBUG, logger="parlour")  # quiet in production (see logs.py)
    await container.mailer.stop()  # mail waits in the outbox until U is erased
    u, v, w = await build_life(app, container)
    canaries = {p.id: Canary(p) for p in (u, v, w)}
    for person in (u, v, w):
        plant_blobs(settings, await avatar_key(container, person.id), canaries[person.id])
        await plant(container, canaries[person.id])
    cu, cv, cw = canaries[u.id], canaries[v.id], canaries[w.id]
    assert len(cu.columns) >= 20, sorted(cu.columns)
    for table in ("users", "messages", "reactions", "contacts", "auth_sessions", "mail_outbox"):
        assert any(name.startswith(table + ".") for name in cu.columns), table
    assert await search_hits(container, cu.columns["messages.body"]) > 0

    # The export: every exported marker of U, none of V, W's words but not W's profile.
    exported = await export_bytes(container, u)
    wanted = {m for name, m in cu.columns.items() if cu.exported[name]} | set(cu.blobs)
    missing = wanted - found_in(wanted, [exported])
    assert not missing, sorted(n for n, m in cu.columns.items() if m in missing)
    assert found_in(cv.all(), [exported]) == set()
    assert cw.columns["messages.body"].encode() in exported
    for private in ("users.email", "users.name", "users.phone", "auth_sessions.label"):
        assert cw.columns[private].encode() not in exported, private

    # The erasure.
    erased = await u.http.delete("/api/v1/me")
    assert erased.status_code == 202, erased.text
    await container.jobs.run_due()
    async with container.db.transaction() as uow:
        jobs = (await uow.session.execute(text("SELECT name, state, last_error FROM jobs"))).all()
    assert all(state == "done" for _name, state, _error in jobs), jobs
    container.mailer.start()
    receipt = await wait_for_receipt(smtp[0], container)
    kept = {name: m for name, m in cu.columns.items() if name in receipt}

    left_db = found_in(cu.all(), await database_bytes(container, settings))
    assert left_db <= set(kept.values()), sorted(
        n for n, m in cu.columns.items() if m in left_db - set(kept.values())
    )
    blobs = [p.read_bytes() for p in files_under(settings.data_dir)]
    assert found_in(cu.all(), blobs) == set()
    assert await search_hits(container, cu.columns["messages.body"]) == 0
    ours = [r for r in caplog.records if r.name.startswith("parlour")]  # not the test's SMTP
    logged = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in ours)
    assert found_in(cu.all(), [logged.encode()]) == set()

    # Positive controls: the scans do see what is still there.
    still = found_in(cv.all() | cw.all(), await database_bytes(container, settings))
    assert cv.columns["users.name"] in still and cw.columns["messages.body"] in still
    assert await search_hits(container, cw.columns["messages.body"]) > 0
    assert cv.blobs and found_in(set(cv.blobs), blobs) == set(cv.blobs)
