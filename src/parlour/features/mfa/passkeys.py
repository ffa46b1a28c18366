"""Passkeys (WebAuthn): register, list, remove, and use one as the second step of a sign-in.

The relying party is this instance: its id is the host of PARLOUR_PUBLIC_URL and the origin
must be exactly that address. Challenges are random, kept server-side and used once.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor, Client
from parlour.features.accounts.models import AuthSession, User
from parlour.features.accounts.service import AccountService, SecondStep
from parlour.features.audit.service import AuditLog, Doer
from parlour.features.mfa import store
from parlour.features.mfa.models import Passkey, WebauthnChallenge
from parlour.features.mfa.service import MfaService, audit_txn, doer_of, refresh_flag_txn

log = logging.getLogger("parlour.mfa")

CHALLENGE_FOR = timedelta(minutes=5)
REGISTER, SIGNIN = "register", "signin"
NOT_ACCEPTED = "The passkey was not accepted. Try again, or use a code."
_TRANSPORTS = {t.value for t in AuthenticatorTransport}

# What a credential may raise while it is checked: the library's own errors for a bad one, and
# the built-in ones for data that is not shaped like a credential at all.
BAD_CREDENTIAL = (WebAuthnException, ValueError, KeyError, TypeError)


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports.split(",") if t]
    return PublicKeyCredentialDescriptor(
        id=webauthn.base64url_to_bytes(passkey.credential_id), transports=transports
    )


def _transports(credential: dict[str, Any]) -> str:
    response = credential.get("response")
    sent = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(sent, list):
        return ""
    return ",".join(t for t in sent if isinstance(t, str) and t in _TRANSPORTS)[:200]


class PasskeyService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        mfa: MfaService,
        audit: AuditLog,
        base_url: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._mfa = mfa
        self._audit = audit
        parts = urlsplit(base_url)
        self.rp_id = parts.hostname or "localhost"
        self.origin = f"{parts.scheme}://{parts.netloc}"

    async def _challenge_txn(self, uow: UnitOfWork, user_id: str, purpose: str) -> bytes:
        now = self._clock.now()
        await store.drop_expired_challenges_txn(uow.session, now)
        await store.take_challenge_txn(uow.session, user_id, purpose, now)  # one live at a time
        challenge = os.urandom(32)
        uow.session.add(
            WebauthnChallenge(
                id=new_id(),
                user_id=user_id,
                purpose=purpose,
                challenge=bytes_to_base64url(challenge),
                expires_at=now + CHALLENGE_FOR,
            )
        )
        return challenge

    async def _taken_challenge_txn(self, uow: UnitOfWork, user_id: str, purpose: str) -> bytes:
        found = await store.take_challenge_txn(uow.session, user_id, purpose, self._clock.now())
        if found is None:
            raise AppError(ErrorCode.TOKEN_INVALID, "This request took too long. Try again.")
        return webauthn.base64url_to_bytes(found)

    # -- registering -----------------------------------------------------------------------

    async def registration_options(self, actor: Actor) -> str:
        """The browser's `navigator.credentials.create()` options, as JSON."""
        async with self._db.transaction() as uow:
            user = await uow.session.get(User, actor.user_id)
            if user is None:
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            existing = await store.passkeys_of(uow.session, user.id)
            challenge = await self._challenge_txn(uow, user.id, REGISTER)
            await uow.commit()
        options = webauthn.generate_registration_options(
            rp_id=self.rp_id,
            rp_name="Parlour",
            user_name=user.email,
            user_id=user.id.encode(),
            user_display_name=user.name,
            challenge=challenge,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(p) for p in existing],
        )
        return webauthn.options_to_json(options)

    async def add(
        self, actor: Actor, name: str, credential: dict[str, Any]
    ) -> tuple[Passkey, list[str]]:
        """Checks the browser's answer and keeps the passkey; recovery codes if it is the first
        factor (shown once). The challenge is spent whatever the answer."""
        async with self._db.transaction() as uow:
            challenge = await self._taken_challenge_txn(uow, actor.user_id, REGISTER)
            await uow.commit()
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
            )
        except BAD_CREDENTIAL as exc:
            log.info("passkey refused", extra={"event": "mfa.passkey_refused"})
            raise invalid("credential", NOT_ACCEPTED) from exc
        async with self._db.transaction() as uow:
            user = await uow.session.get(User, actor.user_id)
            if user is None:
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            credential_id = bytes_to_base64url(verified.credential_id)
            if await store.passkey_by_credential(uow.session, credential_id) is not None:
                raise AppError(ErrorCode.CONFLICT, "This passkey is registered already.")
            passkey = Passkey(
                id=new_id(),
                user_id=user.id,
                name=name.strip()[:80] or "Passkey",
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=_transports(credential),
                created_at=self._clock.now(),
            )
            uow.session.add(passkey)
            await uow.session.flush()
            await refresh_flag_txn(uow, user)
            fresh = await self._mfa.issue_recovery_txn(uow, user)
            await audit_txn(self._audit, uow, Doer.of(actor), user, "mfa.passkey_added")
            await uow.commit()
        return passkey, fresh

    async def remove(self, actor: Actor, passkey_id: str, password: str) -> None:
        await self._accounts.verify_password(actor, password)
        async with self._db.transaction() as uow:
            passkey = await uow.session.get(Passkey, passkey_id)
            user = await uow.session.get(User, actor.user_id)
            if passkey is None or user is None or passkey.user_id != user.id:
                raise not_found("passkey")
            await uow.session.delete(passkey)
            await uow.session.flush()
            await refresh_flag_txn(uow, user)
            await audit_txn(self._audit, uow, Doer.of(actor), user, "mfa.passkey_removed")
            await uow.commit()

    # -- signing in ------------------------------------------------------------------------

    async def signin_options(self, step: SecondStep) -> str:
        """`navigator.credentials.get()` options for the passkeys of the account signing in."""
        async with self._db.transaction() as uow:
            user = await self._accounts.second_step_user_txn(uow.session, step)
            passkeys = await store.passkeys_of(uow.session, user.id)
            if not passkeys:
                raise AppError(ErrorCode.CONFLICT, "This account has no passkey. Use a code.")
            challenge = await self._challenge_txn(uow, user.id, SIGNIN)
            await uow.commit()
        options = webauthn.generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            allow_credentials=[_descriptor(p) for p in passkeys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return webauthn.options_to_json(options)

    async def finish_signin(
        self, step: SecondStep, credential: dict[str, Any], client: Client
    ) -> tuple[User, AuthSession, str]:
        async def check(uow: UnitOfWork, user: User) -> bool:
            return await self._use_passkey_txn(uow, user, credential)

        return await self._mfa.finish(step, client, check)

    async def _use_passkey_txn(
        self, uow: UnitOfWork, user: User, credential: dict[str, Any]
    ) -> bool:
        challenge = await store.take_challenge_txn(uow.session, user.id, SIGNIN, self._clock.now())
        raw_id = credential.get("id")
        passkey = (
            await store.passkey_by_credential(uow.session, raw_id)
            if isinstance(raw_id, str)
            else None
        )
        if challenge is None or passkey is None or passkey.user_id != user.id:
            return False
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=webauthn.base64url_to_bytes(challenge),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
            )
        except BAD_CREDENTIAL:
            return False  # a clone's stale counter lands here too
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = self._clock.now()
        await audit_txn(self._audit, uow, doer_of(user), user, "mfa.passkey_used")
        return True


def credential_of(raw: str) -> dict[str, Any]:
    """A credential posted as JSON text (as the browser's toJSON() gives it)."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise invalid("credential", NOT_ACCEPTED) from exc
    if not isinstance(value, dict):
        raise invalid("credential", NOT_ACCEPTED)
    return value
