"""Blob storage behind one small interface; keys are random and never hold personal data."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK = 256 * 1024

_KEY = re.compile(r"^[a-z]+/[0-9a-f]{32}\.[a-z0-9]{2,5}$")


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def delete(self, key: str) -> None: ...
    async def keys(self, prefix: str) -> list[str]: ...
    async def put_file(self, key: str, source: Path) -> None: ...
    def chunks(self, key: str) -> AsyncIterator[bytes]: ...


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError("blob keys are '<prefix>/<32 hex>.<ext>'")
    return key


class FileBlobStore:
    """Files under the data folder; writes land whole or not at all."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        os.replace(partial, path)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def keys(self, prefix: str) -> list[str]:
        folder = self._root / prefix
        if not folder.is_dir():
            return []
        return sorted(
            f"{prefix}/{p.name}" for p in folder.iterdir() if not p.name.endswith(".partial")
        )

    async def put_file(self, key: str, source: Path) -> None:
        """Stores a file that was written elsewhere (a large export) without reading it whole;
        the source is moved, or copied and removed."""
        await asyncio.to_thread(self._put_file, self._path(key), source)

    @staticmethod
    def _put_file(path: Path, source: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        try:
            os.replace(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
            source.unlink()
        os.replace(partial, path)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob in pieces, for streaming it to a client with flat memory."""
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()
