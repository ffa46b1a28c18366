"""Profile pictures: checked by their content, bounded in size, re-encoded to drop metadata."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from parlour.core.errors import AppError, ErrorCode

ALLOWED = {"PNG", "JPEG", "GIF", "WEBP"}
MAX_PIXELS = 40_000_000
SIDE = 512


def reencode_avatar(data: bytes, max_bytes: int) -> bytes:
    """A square-bounded PNG without EXIF or other metadata, or a clear refusal."""
    if len(data) > max_bytes:
        raise AppError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The picture is larger than {max_bytes // (1024 * 1024)} MB.",
            fields={"avatar": "too large"},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED:
                raise _bad("Use a PNG, JPEG, GIF or WebP picture.")
            if image.width * image.height > MAX_PIXELS:
                raise _bad("The picture has too many pixels.")
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise _bad("This file is not a picture we can read.") from exc
    square = image.convert("RGBA")
    square.thumbnail((SIDE, SIDE))
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _bad(message: str) -> AppError:
    return AppError(ErrorCode.IMAGE_INVALID, message, fields={"avatar": message})
