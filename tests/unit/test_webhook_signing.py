"""The reference verifier and the address rule of webhooks, as pure logic."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from parlour.features.webhooks import InvalidSignature, is_public, sign_headers, verify_signature
from parlour.features.webhooks.signing import new_secret

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BODY = b'{"id":"evt_1","type":"message.created"}'


def _headers(secret: str, when: datetime = NOW, webhook_id: str = "d1") -> dict[str, str]:
    """Signed by hand, not by the feature, so the verifier is checked against the rule."""
    ts = str(int(when.timestamp()))
    mac = hmac.new(secret.encode(), f"{ts}.{webhook_id}.".encode() + BODY, hashlib.sha256)
    return {
        "Parlour-Webhook-Id": webhook_id,
        "Parlour-Webhook-Timestamp": ts,
        "Parlour-Signature": f"v1={mac.hexdigest()}",
    }


def test_secrets_have_the_agreed_shape() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) == 49 and secret != new_secret()


@pytest.mark.promise("P-API-1")
def test_a_genuine_request_verifies_and_the_signer_agrees_with_the_rule() -> None:
    secret = new_secret()
    assert verify_signature(secret, _headers(secret), BODY, NOW) == "d1"
    ours = sign_headers([secret], "d1", int(NOW.timestamp()), BODY)
    assert ours == _headers(secret)
    lower = {k.lower(): v for k, v in ours.items()}  # header names are case-insensitive
    assert verify_signature(secret, lower, BODY, NOW + timedelta(seconds=299)) == "d1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("secret", "no signature matches"),
        ("body", "no signature matches"),
        ("old", "too far from now"),
        ("future", "too far from now"),
        ("missing", "header is missing"),
    ],
)
def test_a_forged_tampered_or_replayed_request_is_refused(change: str, reason: str) -> None:
    secret = new_secret()
    headers, body, now = _headers(secret), BODY, NOW
    if change == "secret":
        headers = _headers(new_secret())
    elif change == "body":
        body = BODY.replace(b"created", b"deleted")
    elif change == "old":
        now = NOW + timedelta(seconds=301)
    elif change == "future":
        now = NOW - timedelta(seconds=301)
    else:
        del headers["Parlour-Signature"]
    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(secret, headers, body, now)


def test_the_same_delivery_twice_is_refused_when_the_receiver_remembers_ids() -> None:
    secret, seen = new_secret(), set[str]()
    assert verify_signature(secret, _headers(secret), BODY, NOW, seen=seen) == "d1"
    with pytest.raises(InvalidSignature, match="already received"):
        verify_signature(secret, _headers(secret), BODY, NOW, seen=seen)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign_headers([new, old], "d2", int(NOW.timestamp()), BODY)
    assert headers["Parlour-Signature"].count("v1=") == 2
    assert verify_signature(old, headers, BODY, NOW) == "d2"
    assert verify_signature(new, headers, BODY, NOW) == "d2"
    with pytest.raises(InvalidSignature):
        verify_signature(new_secret(), headers, BODY, NOW)


REFUSED = [
    "127.0.0.1",
    "127.8.9.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
]
ALLOWED = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    ["http://example.org/hook", "ftp://example.org/", "https://user:pw@example.org/", "https:///x"],
)
def test_only_plain_https_urls_have_an_acceptable_shape(url: str) -> None:
    from parlour.core.errors import AppError
    from parlour.features.webhooks.addresses import Policy, check_shape

    with pytest.raises(AppError) as refused:
        check_shape(url, Policy())
    assert refused.value.code.value == "webhook_url_refused" and "url" in refused.value.fields
    assert check_shape(" https://example.org/hook ", Policy()) == "https://example.org/hook"
