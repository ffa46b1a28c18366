"""Sign-in with an organisation's OpenID Connect provider (P-ACC-6).

An owner names the provider and the email domains of the organisation. A visitor gives an
address; its domain leads to the organisation and its provider. The answer must carry the
state this browser was given, an ID token for this client with this browser's nonce, and a
verified address of one of the organisation's domains. A known identity signs in; a known
address is linked first; an unknown one may make an account after the same age check and
policy acceptance as sign-up. Every refusal is audited, by reason, never with a token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import keyed_digest, new_id, token_digest
from parlour.core.secretbox import SecretBox, Unreadable
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor, Client
from parlour.features.accounts.models import User
from parlour.features.accounts.service import AccountService, NewAccount
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.features.orgs.models import Organisation
from parlour.features.sso import store
from parlour.features.sso.flow import Flow, Seals, Vouched, domain_of, is_domain
from parlour.features.sso.models import IdentityProvider, LinkedIdentity
from parlour.features.sso.oidc import (
    AuthRequest,
    Discovery,
    Expected,
    OidcClient,
    Pkce,
    ProviderUnreachable,
    TokenRefused,
    authorization_url,
)
from parlour.features.sso.rules import checked_domains, checked_issuer
from parlour.features.sso.words import REFUSALS, refusal

log = logging.getLogger("parlour.sso")

VISITOR = Doer(None, "visitor")
NONCE_MEMORY = timedelta(hours=1)
CALLBACK_PATH = "/signin/sso/callback"


@dataclass(frozen=True)
class ProviderChange:
    issuer: str
    client_id: str
    client_secret: str | None  # None keeps the one stored
    domains: list[str]


@dataclass(frozen=True)
class ProviderView:
    issuer: str
    client_id: str
    domains: list[str]
    redirect_uri: str


@dataclass(frozen=True)
class Started:
    url: str
    sealed_flow: str


@dataclass(frozen=True)
class SignedIn:
    session_secret: str
    next: str


@dataclass(frozen=True)
class NeedsAccount:
    sealed: str


@dataclass(frozen=True)
class NewAccountView:
    org_name: str
    min_age: int
    email: str
    name: str


class SsoService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        audit: AuditLog,
        oidc: OidcClient,
        secret_key: bytes,
        base_url: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._audit = audit
        self._oidc = oidc
        self._key = secret_key
        self._seals = Seals(secret_key)
        self._client_secrets = SecretBox(secret_key, "parlour.sso.client-secret")
        self._subjects = SecretBox(secret_key, "parlour.sso.subject")
        self.redirect_uri = base_url.rstrip("/") + CALLBACK_PATH

    async def close(self) -> None:
        await self._oidc.close()

    # -- the owner's configuration ---------------------------------------------------------

    @staticmethod
    def _require_owner(actor: Actor, org_id: str) -> None:
        if actor.org_id != org_id:
            raise not_found("organisation")
        if actor.role != "owner":
            raise AppError(
                ErrorCode.FORBIDDEN, "Only the organisation's owners can set up its sign-in."
            )

    async def provider(self, actor: Actor, org_id: str) -> ProviderView | None:
        self._require_owner(actor, org_id)
        async with self._db.transaction() as uow:
            found = await store.provider_of(uow.session, org_id)
            domains = await store.domains_of(uow.session, org_id)
        return self._view(found, domains) if found else None

    def _view(self, provider: IdentityProvider, domains: list[str]) -> ProviderView:
        return ProviderView(provider.issuer, provider.client_id, domains, self.redirect_uri)

    async def configure(self, actor: Actor, org_id: str, change: ProviderChange) -> ProviderView:
        """Checks the issuer answers discovery before anything is saved."""
        self._require_owner(actor, org_id)
        issuer, domains = checked_issuer(change.issuer), checked_domains(change.domains)
        client_id = change.client_id.strip()
        if not client_id:
            raise invalid("client_id", "Enter the client id the provider gave you.")
        await self._discover(issuer, org_id)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            provider = await self._save_provider_txn(uow, org_id, issuer, client_id, change)
            await self._claim_domains_txn(uow, org_id, domains)
            fields = ("issuer", "client_id", "domains", "client_secret")
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("sso.configure", None, org_id, fields)
            )
            await uow.commit()
        log.info("identity provider saved", extra={"event": "sso.configured", "org": org_id})
        return self._view(provider, domains)

    async def _save_provider_txn(
        self, uow: UnitOfWork, org_id: str, issuer: str, client_id: str, change: ProviderChange
    ) -> IdentityProvider:
        now = self._clock.now()
        provider = await store.provider_of(uow.session, org_id)
        secret = (change.client_secret or "").strip()
        if provider is None and not secret:
            raise invalid("client_secret", "Enter the client secret the provider gave you.")
        if provider is None:
            provider = IdentityProvider(id=new_id(), org_id=org_id, created_at=now)
            uow.session.add(provider)
        provider.issuer, provider.client_id, provider.updated_at = issuer, client_id, now
        if secret:
            provider.client_secret_sealed = self._client_secrets.seal(secret, now)
        await uow.session.flush()
        return provider

    async def _claim_domains_txn(self, uow: UnitOfWork, org_id: str, domains: list[str]) -> None:
        for name in domains:
            owner = await store.domain(uow.session, name)
            if owner is not None and owner.org_id != org_id:
                raise AppError(
                    ErrorCode.SSO_DOMAIN_TAKEN,
                    f"{name} signs in to another organisation on this instance already.",
                    fields={"domains": f"{name} belongs to another organisation."},
                )
        await store.replace_domains_txn(uow.session, org_id, domains, self._clock.now())

    async def remove(self, actor: Actor, org_id: str) -> None:
        """Stops sign-in through the provider; linked identities stay until their owners go."""
        self._require_owner(actor, org_id)
        async with self._db.transaction() as uow:
            provider = await store.provider_of(uow.session, org_id)
            if provider is None:
                raise not_found("identity provider")
            await uow.session.delete(provider)
            await store.replace_domains_txn(uow.session, org_id, [], self._clock.now())
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("sso.remove", None, org_id, ("issuer", "domains"))
            )
            await uow.commit()

    # -- a person's linked identities ------------------------------------------------------

    async def links(self, actor: Actor) -> list[LinkedIdentity]:
        async with self._db.transaction() as uow:
            return await store.links_of(uow.session, actor.user_id)

    async def unlink(self, actor: Actor, link_id: str) -> None:
        async with self._db.transaction() as uow:
            link = await uow.session.get(LinkedIdentity, link_id)
            if link is None or link.user_id != actor.user_id:
                raise not_found("linked identity")
            await uow.session.delete(link)
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("sso.unlink", actor.user_id, actor.org_id, ("issuer",))
            )
            await uow.commit()

    # -- signing in ------------------------------------------------------------------------

    async def start(self, email_or_domain: str, next_path: str) -> Started:
        """The provider's address to send the browser to, and the flow it must bring back."""
        domain = domain_of(email_or_domain)
        if not is_domain(domain):
            raise invalid("email", "Enter your work email address, like name@example.org.")
        async with self._db.transaction() as uow:
            mapped = await store.domain(uow.session, domain)
            provider = await store.provider_of(uow.session, mapped.org_id) if mapped else None
        if provider is None:
            await self._refuse("domain", None, None, extra=domain)
        assert provider is not None  # noqa: S101 - _refuse raises
        discovery = await self._discover(provider.issuer, provider.org_id)
        pkce = Pkce.new()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        flow = Flow(provider.org_id, state, nonce, pkce.verifier, next_path)
        request = self._auth_request(provider, flow, pkce.challenge)
        return Started(
            authorization_url(discovery, request), self._seals.seal_flow(flow, self._clock.now())
        )

    def _auth_request(self, provider: IdentityProvider, flow: Flow, challenge: str) -> AuthRequest:
        return AuthRequest(provider.client_id, self.redirect_uri, flow.state, flow.nonce, challenge)

    async def _discover(self, issuer: str, org_id: str | None) -> Discovery:
        try:
            return await self._oidc.discover(issuer, self._clock.now())
        except ProviderUnreachable as exc:
            log.warning(
                "identity provider unreachable",
                extra={"event": "sso.unreachable", "org": org_id, "error": str(exc)},
            )
            await self._refuse("provider", org_id, None)
            raise  # pragma: no cover - _refuse raises

    async def finish(
        self, sealed_flow: str | None, params: dict[str, str], client: Client
    ) -> SignedIn | NeedsAccount:
        """The provider's answer, checked step by step; the first failing check refuses."""
        flow = self._seals.open_flow(sealed_flow, self._clock.now())
        if flow is None or not hmac.compare_digest(params.get("state", ""), flow.state):
            await self._refuse("state", flow.org_id if flow else None, None)
        assert flow is not None  # noqa: S101 - _refuse raises
        if params.get("error"):
            await self._refuse("cancelled", flow.org_id, None)
        await self._spend_nonce(flow)
        claims = await self._claims(flow, params.get("code", ""))
        return await self._conclude(flow, claims, client)

    async def _spend_nonce(self, flow: Flow) -> None:
        now = self._clock.now()
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            first = await store.spend_nonce_txn(
                uow.session, token_digest(flow.nonce), now, now - NONCE_MEMORY
            )
            await uow.commit()
        if not first:
            await self._refuse("replayed", flow.org_id, None)

    async def _claims(self, flow: Flow, code: str) -> dict[str, object]:
        async with self._db.transaction() as uow:
            provider = await store.provider_of(uow.session, flow.org_id)
        if provider is None or not code:
            await self._refuse("domain" if provider is None else "code", flow.org_id, None)
        assert provider is not None  # noqa: S101 - _refuse raises
        discovery = await self._discover(provider.issuer, flow.org_id)
        secret = await self._client_secret(provider)
        request = self._auth_request(provider, flow, "")
        expected = Expected(discovery.issuer, provider.client_id, flow.nonce, self._clock.now())
        try:
            token = await self._oidc.exchange(discovery, code, request, flow.verifier, secret)
            return await self._oidc.verify(discovery, token, expected)
        except ProviderUnreachable:
            await self._refuse("provider", flow.org_id, None)
        except TokenRefused as exc:
            await self._refuse(exc.reason, flow.org_id, None)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _client_secret(self, provider: IdentityProvider) -> str:
        """The stored secret; unreadable once the instance secret has changed (then an owner
        saves it again), which makes the provider unusable, not a server error."""
        try:
            return self._client_secrets.open(provider.client_secret_sealed, self._clock.now())
        except Unreadable:
            log.warning(
                "client secret unreadable: save it again",
                extra={"event": "sso.secret_unreadable", "org": provider.org_id},
            )
            await self._refuse("provider", provider.org_id, None)
            raise

    async def _conclude(
        self, flow: Flow, claims: dict[str, object], client: Client
    ) -> SignedIn | NeedsAccount:
        email = claims.get("email")
        verified = claims.get("email_verified") in (True, "true")
        if not isinstance(email, str) or "@" not in email or not verified:
            await self._refuse("email_verified", flow.org_id, None)
        assert isinstance(email, str)  # noqa: S101 - _refuse raises
        email = email.strip().lower()
        issuer, subject = str(claims["iss"]), str(claims["sub"])
        async with self._db.transaction() as uow:
            mapped = await store.domain(uow.session, domain_of(email))
            if mapped is None or mapped.org_id != flow.org_id:
                await self._refuse_txn(uow, "email_domain", flow.org_id, None)
            user = await self._known_user_txn(uow, issuer, subject, email, flow.org_id)
            if user is None:
                name = claims.get("name")
                vouched = Vouched(
                    flow.org_id,
                    issuer,
                    subject,
                    email,
                    name if isinstance(name, str) else "",
                    flow.next,
                )
                return NeedsAccount(self._seals.seal_vouched(vouched, self._clock.now()))
            secret = await self._session_txn(uow, user, client)
            await uow.commit()
        return SignedIn(secret, flow.next)

    def _digest(self, issuer: str, subject: str) -> str:
        return keyed_digest(self._key, f"sso:{issuer.rstrip('/')}\n{subject}")

    async def _known_user_txn(
        self, uow: UnitOfWork, issuer: str, subject: str, email: str, org_id: str
    ) -> User | None:
        """The account linked to this identity, or the one with this verified address (which
        is then linked); None when the person has no account yet."""
        link = await store.link_by_digest(uow.session, self._digest(issuer, subject))
        if link is not None:
            link.last_used_at = self._clock.now()
            user = await accounts_store.user_by_id(uow.session, link.user_id)
        else:
            user = await accounts_store.user_by_email(uow.session, email)
            if user is not None and user.org_id == org_id:
                await self._link_txn(uow, user, issuer, subject)
        if user is not None and user.org_id != org_id:
            await self._refuse_txn(uow, "other_org", org_id, user.id)
        return user

    async def _link_txn(self, uow: UnitOfWork, user: User, issuer: str, subject: str) -> None:
        now = self._clock.now()
        for old in await store.links_of(uow.session, user.id):
            if old.issuer == issuer:
                await uow.session.delete(old)  # the provider gave this person a new id
        await uow.session.flush()
        uow.session.add(
            LinkedIdentity(
                id=new_id(),
                user_id=user.id,
                issuer=issuer,
                subject_digest=self._digest(issuer, subject),
                subject_sealed=self._subjects.seal(subject, now),
                created_at=now,
                last_used_at=now,
            )
        )
        await uow.session.flush()
        await self._audit.record_txn(
            uow, Doer(user.id, user.role), Access("sso.link", user.id, user.org_id, ("issuer",))
        )

    async def _session_txn(self, uow: UnitOfWork, user: User, client: Client) -> str:
        """A session, as a password sign-in makes one (and, like it, not audited)."""
        try:
            _auth, secret = self._accounts.sign_in_verified_txn(uow, user, client)
        except AppError:
            await self._refuse_txn(uow, "account_status", user.org_id, user.id, raise_=False)
            await uow.commit()
            raise
        return secret

    # -- a new account for someone the provider vouched for --------------------------------

    async def new_account_view(self, sealed: str | None) -> NewAccountView:
        vouched = self._vouched(sealed)
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, vouched.org_id)
        if org is None:
            raise self._expired()
        return NewAccountView(org.name, org.min_age, vouched.email, vouched.name)

    def _vouched(self, sealed: str | None) -> Vouched:
        vouched = self._seals.open_vouched(sealed, self._clock.now())
        if vouched is None:
            raise self._expired()
        return vouched

    @staticmethod
    def _expired() -> AppError:
        return AppError(ErrorCode.SSO_STATE_MISMATCH, REFUSALS["expired"])

    async def create_account(
        self, sealed: str | None, name: str, birth_date: date, accept_policy: str, client: Client
    ) -> SignedIn:
        """The age check comes first, as at sign-up: under age, nothing is stored."""
        vouched = self._vouched(sealed)
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, vouched.org_id)
            if org is None:
                raise self._expired()
            self._accounts.check_age(birth_date, org.min_age)
            form = NewAccount(name, vouched.email, "", birth_date, accept_policy)
            user = await self._accounts.create_user_txn(
                uow.session, org.id, form, "member", passwordless=True
            )
            await self._link_txn(uow, user, vouched.issuer, vouched.subject)
            secret = await self._session_txn(uow, user, client)
            await self._audit.record_txn(
                uow,
                Doer(user.id, user.role),
                Access("sso.account_created", user.id, org.id, ("email", "name")),
            )
            await uow.commit()
        log.info("account made by sso", extra={"event": "sso.account_created", "user": user.id})
        return SignedIn(secret, vouched.next)

    # -- refusals --------------------------------------------------------------------------

    async def _refuse(
        self, reason: str, org_id: str | None, user_id: str | None, extra: str = ""
    ) -> None:
        async with self._db.transaction() as uow:
            await self._refuse_txn(uow, reason, org_id, user_id, raise_=False)
            await uow.commit()
        raise refusal(reason, extra)

    async def _refuse_txn(
        self,
        uow: UnitOfWork,
        reason: str,
        org_id: str | None,
        user_id: str | None,
        *,
        raise_: bool = True,
    ) -> None:
        """Audits a refusal by its reason only (no token, code, secret or address)."""
        await self._audit.record_txn(
            uow, VISITOR, Access("sso.refused", user_id, org_id, (reason,))
        )
        log.info("sso refused", extra={"event": "sso.refused", "reason": reason, "org": org_id})
        if raise_:
            await uow.commit()
            raise refusal(reason)
