"""The ID token checks, one by one, on tokens signed here (P-ACC-6).

The flow tests run against a real provider, which only signs good tokens; these make the bad
ones: another audience or issuer, expired, `alg: none`, an HMAC token keyed with the public
key (the classic algorithm swap), another signer, a missing nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from parlour.features.sso.oidc import Expected, TokenRefused, check_id_token

pytestmark = pytest.mark.promise("P-ACC-6")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ISSUER = "https://idp.example"
CLIENT = "parlour"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EXPECTED = Expected(ISSUER, CLIENT, "the-nonce", NOW)


def key() -> jwt.PyJWK:
    return jwt.PyJWK(RSAAlgorithm.to_jwk(PRIVATE.public_key(), as_dict=True))


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "subject-1",
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "iat": int(NOW.timestamp()),
        "nonce": "the-nonce",
        "email": "ana@example.org",
        "email_verified": True,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(signer: rsa.RSAPrivateKey = PRIVATE, **changes: Any) -> str:
    return jwt.encode(claims(**changes), signer, algorithm="RS256")


def reason(token: str) -> str:
    with pytest.raises(TokenRefused) as refused:
        check_id_token(token, key(), EXPECTED)
    return refused.value.reason


def test_a_good_token_gives_its_claims() -> None:
    assert check_id_token(signed(), key(), EXPECTED)["sub"] == "subject-1"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"aud": "another-app"}, "audience"),
        ({"aud": [CLIENT, "another-app"]}, "audience"),  # several audiences need azp = us
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": int((NOW - timedelta(minutes=5)).timestamp())}, "expired"),
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
    ],
)
def test_each_claim_is_checked(changes: dict[str, Any], expected: str) -> None:
    assert reason(signed(**changes)) == expected


def test_a_token_signed_by_another_key_is_refused() -> None:
    assert reason(signed(OTHER)) == "signature"


def test_alg_none_is_refused() -> None:
    assert reason(jwt.encode(claims(), None, algorithm="none")) == "algorithm"


def test_an_hmac_token_keyed_with_the_public_key_is_refused() -> None:
    """What a forger makes: header alg HS256, keyed with the provider's public key bytes
    (PyJWT itself refuses to make one, so it is put together by hand)."""
    public_pem = PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _part(json.dumps(claims()).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert reason(f"{head}.{body}.{_part(mac)}") == "algorithm"


def _part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
