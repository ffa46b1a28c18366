"""Profiles: correcting one's details, and profile pictures checked, bounded and cleaned."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image

from parlour.container import Container
from parlour.settings import Settings
from tests.support.world import Person, instance_owner, member

LIMIT = 64 * 1024
GPS_IFD = 0x8825
GPS_LATITUDE = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small picture limit, so that 'too large' needs no megabytes."""
    return settings.model_copy(update={"avatar_max_bytes": LIMIT})


@pytest.fixture
async def pat(app: FastAPI, container: Container) -> Person:
    return await member(app, await instance_owner(app, container))


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif.get_ifd(GPS_IFD).update(
        {1: "N", GPS_LATITUDE: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD), "the fixture lost its GPS"
    return data


def noise_png(size: int) -> bytes:
    """A real PNG of at least `size` bytes (random pixels do not compress)."""
    side = int((size / 3) ** 0.5) + 8
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def upload(
    person: Person, data: bytes, name: str = "me.png", kind: str = "image/png"
) -> dict[str, Any]:
    response = await person.http.put("/api/v1/me/avatar", files={"avatar": (name, data, kind)})
    return {"status": response.status_code, "body": response.json()}


def stored(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "blobs").rglob("*.png"))


@pytest.mark.promise("P-RIGHTS-3")
@pytest.mark.promise("P-ACC-1")
async def test_a_person_corrects_their_profile_and_clears_optional_fields(pat: Person) -> None:
    changed = await pat.http.patch(
        "/api/v1/me",
        json={
            "name": "Pat Jones",
            "phone": "+44 20 7946 0018",
            "title": "Nurse",
            "location": "Leeds",
        },
    )
    assert changed.status_code == 200
    me = (await pat.http.get("/api/v1/me")).json()
    assert (me["name"], me["phone"], me["title"], me["location"]) == (
        "Pat Jones", "+44 20 7946 0018", "Nurse", "Leeds",
    )  # fmt: skip
    cleared = await pat.http.patch("/api/v1/me", json={"phone": None, "title": ""})
    assert cleared.status_code == 200
    me = (await pat.http.get("/api/v1/me")).json()
    assert me["phone"] is None and me["title"] is None and me["location"] == "Leeds"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"phone": "call me maybe"}, "phone"),
        ({"email": "new@example.org"}, "email"),
        ({"role": "owner"}, "role"),
    ],
)
async def test_a_profile_change_that_cannot_be_made_is_refused_by_name(
    pat: Person, body: dict[str, object], field: str
) -> None:
    before = (await pat.http.get("/api/v1/me")).json()
    response = await pat.http.patch("/api/v1/me", json=body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await pat.http.get("/api/v1/me")).json() == before


async def test_a_text_file_named_png_is_refused(pat: Person, settings: Settings) -> None:
    result = await upload(pat, b"just some words, not a picture\n" * 20, "holiday.png")
    assert result["status"] == 422 and result["body"]["code"] == "image_invalid"
    assert stored(settings) == []
    assert (await pat.http.get("/api/v1/me")).json()["has_avatar"] is False


async def test_a_picture_over_the_limit_is_refused(pat: Person, settings: Settings) -> None:
    big = noise_png(LIMIT + 1)
    assert len(big) > LIMIT
    result = await upload(pat, big)
    assert result["status"] == 413 and result["body"]["code"] == "payload_too_large"
    assert stored(settings) == []


async def test_a_picture_is_re_encoded_without_its_metadata(
    pat: Person, settings: Settings
) -> None:
    original = jpeg_with_gps()
    result = await upload(pat, original, "photo.jpg", "image/jpeg")
    assert result["status"] == 200 and result["body"]["has_avatar"] is True
    [blob] = stored(settings)
    for data in (blob.read_bytes(), (await pat.http.get(f"/api/v1/users/{pat.id}/avatar")).content):
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG"
        assert not image.getexif() and "exif" not in image.info
        assert b"Exif" not in data and b"CameraMaker" not in data


async def test_replacing_and_removing_a_picture_deletes_the_stored_file(
    pat: Person, settings: Settings
) -> None:
    assert (await upload(pat, jpeg_with_gps(), "a.jpg", "image/jpeg"))["status"] == 200
    [first] = stored(settings)
    assert (await upload(pat, noise_png(1000)))["status"] == 200
    [second] = stored(settings)
    assert second != first and not first.exists()
    removed = await pat.http.delete("/api/v1/me/avatar")
    assert removed.status_code == 204
    assert stored(settings) == []
    assert (await pat.http.get(f"/api/v1/users/{pat.id}/avatar")).status_code == 404
    assert (await pat.http.get("/api/v1/me")).json()["has_avatar"] is False
