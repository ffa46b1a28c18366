"""The OpenID Connect relying party: discovery, the code exchange, and ID token checks.

Discovery documents and key sets are cached per issuer for an hour; a token signed with a key
the cache does not know makes one fresh fetch (providers rotate keys). The signing algorithm
comes from the provider's key, never from the token's header, so `none` and a swap to HMAC
cannot pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt

CACHE_FOR = timedelta(hours=1)
LEEWAY_SECONDS = 60
SYMMETRIC = "oct"


class ProviderUnreachable(Exception):
    """The provider did not answer, or answered with something that is not OpenID Connect."""


class TokenRefused(Exception):
    """The ID token fails a check; ``reason`` names which (audit entries record it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True)
class AuthRequest:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    challenge: str


def authorization_url(discovery: Discovery, request: AuthRequest) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": request.client_id,
            "redirect_uri": request.redirect_uri,
            "scope": "openid email profile",
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.challenge,
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if urlsplit(discovery.authorization_endpoint).query else "?"
    return f"{discovery.authorization_endpoint}{separator}{query}"


@dataclass(frozen=True)
class Expected:
    """What a valid ID token must say."""

    issuer: str
    client_id: str
    nonce: str
    now: datetime


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class OidcClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._discovery: dict[str, tuple[datetime, Discovery]] = {}
        self._keys: dict[str, tuple[datetime, list[dict[str, Any]]]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnreachable(type(exc).__name__) from exc
        if not isinstance(data, dict):
            raise ProviderUnreachable("not a JSON object")
        return data

    async def discover(self, issuer: str, now: datetime) -> Discovery:
        cached = self._discovery.get(issuer)
        if cached and cached[0] > now:
            return cached[1]
        data = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        try:
            found = Discovery(
                str(data["issuer"]),
                str(data["authorization_endpoint"]),
                str(data["token_endpoint"]),
                str(data["jwks_uri"]),
            )
        except KeyError as exc:
            raise ProviderUnreachable("incomplete discovery document") from exc
        if not _same_issuer(found.issuer, issuer):
            raise ProviderUnreachable("the discovery document names another issuer")
        self._discovery[issuer] = (now + CACHE_FOR, found)
        return found

    async def exchange(
        self, discovery: Discovery, code: str, request: AuthRequest, verifier: str, secret: str
    ) -> str:
        """The authorization code for the ID token (client_secret_basic, with the PKCE verifier)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": verifier,
        }
        try:
            response = await self._http.post(
                discovery.token_endpoint, data=form, auth=(request.client_id, secret)
            )
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ProviderUnreachable(f"token endpoint answered {response.status_code}")
        try:
            token = response.json().get("id_token") if response.status_code == 200 else None
        except ValueError as exc:
            raise ProviderUnreachable("token endpoint answered no JSON") from exc
        if not isinstance(token, str):
            raise TokenRefused("code")
        return token

    async def _key_set(
        self, discovery: Discovery, now: datetime, fresh: bool
    ) -> list[dict[str, Any]]:
        cached = self._keys.get(discovery.jwks_uri)
        if cached and cached[0] > now and not fresh:
            return cached[1]
        keys = (await self._get_json(discovery.jwks_uri)).get("keys")
        if not isinstance(keys, list):
            raise ProviderUnreachable("the key set has no keys")
        usable = [k for k in keys if isinstance(k, dict) and k.get("kty") not in (SYMMETRIC, None)]
        self._keys[discovery.jwks_uri] = (now + CACHE_FOR, usable)
        return usable

    async def signing_key(self, discovery: Discovery, token: str, now: datetime) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRefused("malformed") from exc
        kid = header.get("kid")
        for fresh in (False, True):
            keys = await self._key_set(discovery, now, fresh)
            found = [k for k in keys if kid is None or k.get("kid") == kid]
            signing = [k for k in found if k.get("use", "sig") == "sig"]
            if len(signing) == 1 or (kid is not None and signing):
                try:
                    return jwt.PyJWK(signing[0])
                except jwt.PyJWTError as exc:
                    raise TokenRefused("algorithm") from exc
        raise TokenRefused("signature")

    async def verify(self, discovery: Discovery, token: str, expected: Expected) -> dict[str, Any]:
        key = await self.signing_key(discovery, token, expected.now)
        return check_id_token(token, key, expected)


def check_id_token(token: str, key: jwt.PyJWK, expected: Expected) -> dict[str, Any]:
    """The claims of a token signed by ``key`` with the key's own algorithm, or TokenRefused."""
    algorithm = key.algorithm_name
    try:
        if jwt.get_unverified_header(token).get("alg") != algorithm:
            raise TokenRefused("algorithm")
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[algorithm],
            audience=expected.client_id,
            issuer=expected.issuer,
            options={
                "verify_exp": False,  # checked below against Parlour's clock
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "aud", "exp", "sub"],
            },
        )
    except jwt.InvalidAudienceError as exc:
        raise TokenRefused("audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRefused("issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenRefused("signature") from exc
    except jwt.PyJWTError as exc:
        raise TokenRefused("malformed") from exc
    _check_times(claims, expected.now)
    _check_party(claims, expected)
    return claims


def _check_times(claims: dict[str, Any], now: datetime) -> None:
    stamp = now.timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + LEEWAY_SECONDS < stamp:
        raise TokenRefused("expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - LEEWAY_SECONDS > stamp:
        raise TokenRefused("expired")


def _check_party(claims: dict[str, Any], expected: Expected) -> None:
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != expected.client_id:
        raise TokenRefused("audience")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce, expected.nonce):
        raise TokenRefused("nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRefused("malformed")
