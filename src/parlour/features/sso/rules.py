"""What an owner may save as their identity provider: a secure issuer address, email domains."""

from __future__ import annotations

from urllib.parse import urlsplit

from parlour.core.errors import invalid
from parlour.features.sso.flow import domain_of, is_domain

LOOPBACK = {"localhost", "127.0.0.1", "::1"}
MAX_DOMAINS = 20


def checked_issuer(value: str) -> str:
    issuer = value.strip().rstrip("/")
    parts = urlsplit(issuer)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    if not parts.hostname or not secure or parts.query or parts.fragment:
        raise invalid(
            "issuer", "Enter the issuer's https address, like https://accounts.google.com."
        )
    return issuer


def checked_domains(values: list[str]) -> list[str]:
    domains = sorted({domain_of(v) for v in values if v.strip()})
    wrong = [d for d in domains if not is_domain(d)]
    if wrong:
        raise invalid("domains", f"{wrong[0]} is not an email domain, like example.org.")
    if not domains:
        raise invalid("domains", "Give at least one email domain of your organisation.")
    if len(domains) > MAX_DOMAINS:
        raise invalid("domains", f"Give at most {MAX_DOMAINS} domains.")
    return domains
