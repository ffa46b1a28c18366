"""Authenticator (TOTP, RFC 6238) codes and single-use recovery codes: pure functions."""

from __future__ import annotations

import secrets
from datetime import datetime

import pyotp
import segno

ISSUER = "Parlour"
STEP_SECONDS = 30
# Codes from the step before and after are accepted too: phones' clocks drift.
DRIFT_STEPS = 1
RECOVERY_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG markup (no external request, no script)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=5, title="Scan with your app")
    return svg


def step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The step whose code this is, if it is later than `after` (a code works only once)."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step if after is None or step > after else None
    return None


def new_recovery_codes() -> list[str]:
    return [_recovery_code() for _ in range(RECOVERY_COUNT)]


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalised_recovery(code: str) -> str | None:
    """How a typed recovery code compares: case, spaces and dashes do not matter."""
    raw = "".join(ch for ch in code.lower() if ch not in " -")
    if len(raw) != 10 or any(ch not in _RECOVERY_ALPHABET for ch in raw):
        return None
    return raw


def looks_like_totp(code: str) -> bool:
    digits = "".join(code.split())
    return len(digits) == 6 and digits.isdigit()
