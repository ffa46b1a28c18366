"""The pure parts of two-factor sign-in: sealing secrets, TOTP steps, recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from parlour.features.mfa import codes
from parlour.features.mfa.sealing import SealBroken, Sealer

KEY = b"k" * 48
NOW = datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)


def test_a_sealed_secret_opens_only_for_its_owner_and_key() -> None:
    sealer = Sealer(KEY, "totp")
    sealed = sealer.seal("JBSWY3DPEHPK3PXPJBSWY3DP", "user-1")
    assert "JBSWY3DP" not in sealed
    assert sealed != sealer.seal("JBSWY3DPEHPK3PXPJBSWY3DP", "user-1")  # a fresh nonce each time
    assert sealer.open(sealed, "user-1") == "JBSWY3DPEHPK3PXPJBSWY3DP"
    with pytest.raises(SealBroken):
        sealer.open(sealed, "user-2")  # copied onto another account's row
    with pytest.raises(SealBroken):
        Sealer(b"x" * 48, "totp").open(sealed, "user-1")  # the instance key changed
    with pytest.raises(SealBroken):
        Sealer(KEY, "other purpose").open(sealed, "user-1")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealBroken):
        sealer.open(flipped, "user-1")


def test_codes_of_the_neighbouring_steps_match_and_no_earlier_one() -> None:
    secret = codes.new_secret()
    totp = pyotp.TOTP(secret)
    now_step = codes.step_of(NOW)
    for delta in (-1, 0, 1):
        code = totp.at(NOW + timedelta(seconds=30 * delta))
        assert codes.matching_step(secret, code, NOW, None) == now_step + delta
    assert codes.matching_step(secret, totp.at(NOW + timedelta(seconds=90)), NOW, None) is None
    assert codes.matching_step(secret, totp.at(NOW), NOW, now_step) is None  # used already
    assert codes.matching_step(secret, totp.at(NOW), NOW, now_step - 1) == now_step
    spaced = totp.at(NOW)[:3] + " " + totp.at(NOW)[3:]
    assert codes.matching_step(secret, spaced, NOW, None) == now_step
    assert codes.matching_step(secret, "12345", NOW, None) is None
    assert codes.matching_step(secret, "abcdef", NOW, None) is None


def test_recovery_codes_are_distinct_and_read_forgivingly() -> None:
    fresh = codes.new_recovery_codes()
    assert len(set(fresh)) == codes.RECOVERY_COUNT
    assert all(len(c) == 11 and c[5] == "-" for c in fresh)
    first = fresh[0]
    assert codes.normalised_recovery(first.upper().replace("-", " ")) == first.replace("-", "")
    assert codes.normalised_recovery("short") is None
    assert codes.normalised_recovery("0000000000") is None  # not in the alphabet


def test_the_qr_code_is_inline_svg_without_script() -> None:
    svg = codes.qr_svg(codes.provisioning_uri(codes.new_secret(), "pat@example.org"))
    assert svg.startswith("<svg") and "<script" not in svg
