"""Download my data: re-authentication first, a durable job, a ZIP complete with respect to the
data map, only for its owner, and gone when its link expires."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from parlour.container import Container
from parlour.core.clock import FixedClock
from parlour.db.models import Base
from parlour.features.privacy.archive import exportable
from parlour.settings import Settings
from tests.api.test_profile import noise_png
from tests.support.world import PASSWORD, Person, direct, instance_owner, member, say

pytestmark = pytest.mark.promise("P-RIGHTS-1", "P-RIGHTS-2")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Jobs run when the test says so, not in the background."""
    return settings.model_copy(update={"worker_in_process": False})


async def reauth(person: Person) -> None:
    response = await person.http.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD})
    assert response.status_code == 204, response.text


async def export_of(person: Person, container: Container) -> tuple[str, zipfile.ZipFile]:
    await reauth(person)
    response = await person.http.post("/api/v1/me/export")
    assert response.status_code == 202, response.text
    export_id: str = response.json()["id"]
    assert response.json()["state"] == "queued"
    assert await container.jobs.run_due() >= 1
    listed = (await person.http.get("/api/v1/me/exports")).json()
    assert listed[0]["state"] == "ready", listed
    download = await person.http.get(listed[0]["download_url"])
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/zip"
    return export_id, zipfile.ZipFile(io.BytesIO(download.content))


def rows(archive: zipfile.ZipFile, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(archive.read(f"data/{table}.json"))
    return found


async def test_an_export_needs_a_fresh_password(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    container.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    response = await owner.http.post("/api/v1/me/export")
    assert response.status_code == 401
    assert response.json()["code"] == "reauthentication_required"
    assert (await owner.http.get("/api/v1/me/exports")).json() == []


async def test_the_export_holds_my_data_my_conversations_and_nobody_elses_profile(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    friend = await member(app, owner)
    await owner.http.patch("/api/v1/me", json={"phone": "+44 20 7946 0001", "title": "Chief"})
    conversation = await direct(owner, friend)
    await say(owner, conversation, "my own words")
    await say(friend, conversation, "words of my friend")
    _id, archive = await export_of(owner, container)
    names = set(archive.namelist())
    assert {"manifest.json", "summary.html"} <= names
    users = rows(archive, "users")
    assert [u["email"] for u in users] == [owner.email]
    assert users[0]["phone"] == "+44 20 7946 0001"
    assert "password_hash" not in users[0]
    bodies = {m["body"]: m["relation"] for m in rows(archive, "messages")}
    assert bodies == {"my own words": "own", "words of my friend": "shared"}
    text = archive.read("summary.html").decode()
    assert "words of my friend" in text and friend.email not in text
    whole = b"".join(archive.read(n) for n in names)
    assert friend.email.encode() not in whole


async def test_every_file_has_a_published_schema_and_the_manifest_explains_it(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    _id, archive = await export_of(owner, container)
    manifest = json.loads(archive.read("manifest.json"))
    assert {f["path"] for f in manifest["files"]} == {
        f"data/{t.name}.json" for t in exportable(Base.metadata)
    }
    for entry in manifest["files"]:
        inside = json.loads(archive.read(entry["schema"]))
        published = await owner.http.get(entry["published_schema"].split("testserver")[-1])
        assert published.status_code == 200
        assert published.json() == inside
        assert inside["items"]["additionalProperties"] is False
    purposes = {p["key"]: p for p in manifest["purposes"]}
    assert purposes["provide_service"]["legal_basis"] == "contract"
    emails = next(c for c in manifest["categories"] if c["category"] == "user.contact.email")
    assert "users.email" in emails["columns"] and emails["retention"]
    assert (await owner.http.get("/api/v1/export/schemas/secret_table.json")).status_code == 404


def export_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.data_dir / "blobs").rglob("*.zip"))


async def test_the_download_works_for_its_owner_only_and_expires(
    app: FastAPI, container: Container, clock: FixedClock, settings: Settings
) -> None:
    owner = await instance_owner(app, container)
    export_id, _archive = await export_of(owner, container)
    colleague = await member(app, owner, role="admin")
    path = f"/api/v1/me/exports/{export_id}/download"
    for other in (colleague,):
        response = await other.http.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert len(export_files(settings)) == 1
    clock.advance(timedelta(days=7, minutes=1))
    response = await owner.http.get(path)
    assert response.status_code == 410 and response.json()["code"] == "export_expired"
    await container.jobs.enqueue_periodic("privacy.exports_expire", timedelta(hours=1))
    assert await container.jobs.run_due() == 1
    assert export_files(settings) == []
    listed = (await owner.http.get("/api/v1/me/exports")).json()
    assert listed[0]["state"] == "expired" and listed[0]["download_url"] is None


async def test_the_owner_is_mailed_when_the_export_is_ready(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    await export_of(owner, container)
    mails = [m for m in await container.mailer.recent() if m.to_addr == owner.email]
    assert any("export is ready" in m.subject for m in mails)


async def test_the_media_of_the_user_are_in_the_export(app: FastAPI, container: Container) -> None:
    owner = await instance_owner(app, container)
    uploaded = await owner.http.put(
        "/api/v1/me/avatar", files={"avatar": ("me.png", noise_png(64), "image/png")}
    )
    assert uploaded.status_code == 200, uploaded.text
    _id, archive = await export_of(owner, container)
    media = [n for n in archive.namelist() if n.startswith("media/avatars/")]
    assert len(media) == 1
    assert archive.read(media[0]).startswith(b"\x89PNG")
