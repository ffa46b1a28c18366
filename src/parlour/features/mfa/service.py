"""Two-factor sign-in: the authenticator app, recovery codes, the second step, the org rule.

Turning a factor off needs the password typed again, spending the session's budget of wrong
confirmations (AccountService.verify_password). Every change and every refusal is audited,
naming what happened and never a secret or a code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_, update

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, not_found
from parlour.core.ids import keyed_digest, new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts.actor import Actor, Client
from parlour.features.accounts.models import AuthSession, User
from parlour.features.accounts.service import (
    AccountService,
    SecondFactorCheck,
    SecondFactorRequired,
    SecondStep,
)
from parlour.features.audit.service import Access, AuditLog, Doer
from parlour.features.mfa import codes, store
from parlour.features.mfa.models import Passkey, RecoveryCode, TotpSecret
from parlour.features.mfa.sealing import SealBroken, Sealer
from parlour.features.orgs.models import Organisation

log = logging.getLogger("parlour.mfa")

WRONG_FIRST_CODE = "That code is not right. Check that your phone's clock is set automatically."


@dataclass(frozen=True)
class Enrolment:
    """An authenticator secret waiting for its first code; shown only to its owner."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class Status:
    totp: bool
    pending: Enrolment | None
    recovery_left: int
    passkeys: list[Passkey]
    required_by_org: bool

    @property
    def any_factor(self) -> bool:
        return self.totp or bool(self.passkeys)


def doer_of(user: User) -> Doer:
    return Doer(user.id, user.role)


async def audit_txn(audit: AuditLog, uow: UnitOfWork, doer: Doer, user: User, action: str) -> None:
    await audit.record_txn(uow, doer, Access(action, user.id, user.org_id))


async def refresh_flag_txn(uow: UnitOfWork, user: User) -> bool:
    """Keeps users.second_factor true exactly while a confirmed app or a passkey exists.

    Without any, the recovery codes go too: they only stand in for a factor."""
    totp = await store.totp_of(uow.session, user.id)
    has = (totp is not None and totp.confirmed_at is not None) or bool(
        await store.passkeys_of(uow.session, user.id)
    )
    user.second_factor = has
    if not has:
        await store.delete_recovery_txn(uow.session, user.id)
    return has


class MfaService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        audit: AuditLog,
        secret_key: bytes,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._audit = audit
        self._key = secret_key
        self._sealer = Sealer(secret_key, "totp")

    # -- what the person has ---------------------------------------------------------------

    async def status(self, actor: Actor) -> Status:
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            totp = await store.totp_of(uow.session, user.id)
            org = await uow.session.get(Organisation, user.org_id)
            pending = None
            if totp is not None and totp.confirmed_at is None:
                secret = self._opened(totp, user)
                pending = self._enrolment(secret, user) if secret else None
            return Status(
                totp=totp is not None and totp.confirmed_at is not None,
                pending=pending,
                recovery_left=await store.recovery_left(uow.session, user.id),
                passkeys=await store.passkeys_of(uow.session, user.id),
                required_by_org=bool(org and org.require_second_factor),
            )

    async def _user_txn(self, uow: UnitOfWork, actor: Actor) -> User:
        user = await uow.session.get(User, actor.user_id)
        if user is None:
            raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
        return user

    def _opened(self, row: TotpSecret, user: User) -> str | None:
        """The secret, or None when it no longer opens (the instance's secret key changed)."""
        try:
            return self._sealer.open(row.sealed_secret, user.id)
        except SealBroken:
            log.warning("authenticator secret unreadable", extra={"event": "mfa.seal_broken"})
            return None

    @staticmethod
    def _enrolment(secret: str, user: User) -> Enrolment:
        uri = codes.provisioning_uri(secret, user.email)
        return Enrolment(secret, uri, codes.qr_svg(uri))

    async def methods(self, step: SecondStep) -> tuple[bool, bool]:
        """What the account signing in can use: (authenticator app, passkey)."""
        async with self._db.transaction() as uow:
            user = await self._accounts.second_step_user_txn(uow.session, step)
            totp = await store.totp_of(uow.session, user.id)
            passkeys = await store.passkeys_of(uow.session, user.id)
        return totp is not None and totp.confirmed_at is not None, bool(passkeys)

    # -- the authenticator app -------------------------------------------------------------

    async def start_totp(self, actor: Actor) -> Enrolment:
        """A new secret, unconfirmed until a first code; replaces an earlier unconfirmed one."""
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            row = await store.totp_of(uow.session, user.id)
            if row is not None and row.confirmed_at is not None:
                raise AppError(
                    ErrorCode.CONFLICT, "The authenticator app is on already. Turn it off first."
                )
            secret = codes.new_secret()
            sealed = self._sealer.seal(secret, user.id)
            if row is None:
                uow.session.add(
                    TotpSecret(
                        id=new_id(),
                        user_id=user.id,
                        sealed_secret=sealed,
                        created_at=self._clock.now(),
                    )
                )
            else:
                row.sealed_secret, row.created_at = sealed, self._clock.now()
            await uow.commit()
            return self._enrolment(secret, user)

    async def confirm_totp(self, actor: Actor, code: str) -> list[str]:
        """Turns the app on with its first code; answers the new recovery codes, shown once."""
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            row = await store.totp_of(uow.session, user.id)
            if row is None or row.confirmed_at is not None:
                raise AppError(ErrorCode.CONFLICT, "Start setting up the authenticator app first.")
            secret = self._opened(row, user)
            step = codes.matching_step(secret, code, self._clock.now(), None) if secret else None
            if step is None:
                raise AppError(
                    ErrorCode.SECOND_FACTOR_INVALID, WRONG_FIRST_CODE, fields={"code": "Not right."}
                )
            row.confirmed_at, row.last_step = self._clock.now(), step
            had_codes = await store.recovery_left(uow.session, user.id) > 0
            await refresh_flag_txn(uow, user)
            fresh = [] if had_codes else await self._new_recovery_txn(uow, user)
            await audit_txn(self._audit, uow, Doer.of(actor), user, "mfa.totp_enabled")
            await uow.commit()
        log.info("authenticator app on", extra={"event": "mfa.totp_enabled", "user": user.id})
        return fresh

    async def disable_totp(self, actor: Actor, password: str) -> None:
        await self._accounts.verify_password(actor, password)
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            row = await store.totp_of(uow.session, user.id)
            if row is None:
                raise not_found("authenticator app")
            await uow.session.delete(row)
            await uow.session.flush()
            await refresh_flag_txn(uow, user)
            await audit_txn(self._audit, uow, Doer.of(actor), user, "mfa.totp_disabled")
            await uow.commit()
        log.info("authenticator app off", extra={"event": "mfa.totp_disabled", "user": user.id})

    # -- recovery codes --------------------------------------------------------------------

    def _recovery_digest(self, normalised: str) -> str:
        return keyed_digest(self._key, "recovery:" + normalised)

    async def _new_recovery_txn(self, uow: UnitOfWork, user: User) -> list[str]:
        await store.delete_recovery_txn(uow.session, user.id)
        fresh = codes.new_recovery_codes()
        now = self._clock.now()
        for code in fresh:
            digest = self._recovery_digest(codes.normalised_recovery(code) or "")
            uow.session.add(
                RecoveryCode(id=new_id(), user_id=user.id, code_digest=digest, created_at=now)
            )
        await audit_txn(self._audit, uow, doer_of(user), user, "mfa.recovery_codes_issued")
        return fresh

    async def issue_recovery_txn(self, uow: UnitOfWork, user: User) -> list[str]:
        """For a first factor added elsewhere (a passkey): codes unless some are left."""
        if await store.recovery_left(uow.session, user.id) > 0:
            return []
        return await self._new_recovery_txn(uow, user)

    async def regenerate_recovery(self, actor: Actor, password: str) -> list[str]:
        """New codes (the old ones stop working), after the password is typed again."""
        await self._accounts.verify_password(actor, password)
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            if not user.second_factor:
                raise AppError(ErrorCode.CONFLICT, "Turn on a second factor first.")
            fresh = await self._new_recovery_txn(uow, user)
            await uow.commit()
        return fresh

    # -- the second step of a sign-in ------------------------------------------------------

    async def sign_in(
        self, email: str, password: str, client: Client, kind: str = "cookie", code: str = ""
    ) -> tuple[User, AuthSession, str]:
        """Password and, for an account with a second factor, a code in the same request."""
        try:
            return await self._accounts.sign_in(email, password, client, kind)
        except SecondFactorRequired as needed:
            if not code.strip():
                raise
            return await self.finish_with_code(needed.step, code, client)

    async def finish_with_code(
        self, step: SecondStep, code: str, client: Client
    ) -> tuple[User, AuthSession, str]:
        return await self.finish(step, client, self._code_check(code))

    async def finish(
        self, step: SecondStep, client: Client, check: SecondFactorCheck
    ) -> tuple[User, AuthSession, str]:
        """Completes a sign-in; a refused factor is audited (the throttle counts it too)."""
        try:
            return await self._accounts.complete_second_step(step, client, check)
        except AppError as error:
            if error.code is ErrorCode.SECOND_FACTOR_INVALID:
                await self._audit_refusal(step)
            raise

    async def _audit_refusal(self, step: SecondStep) -> None:
        async with self._db.transaction() as uow:
            user = await uow.session.get(User, step.user_id)
            if user is not None:
                await audit_txn(self._audit, uow, doer_of(user), user, "mfa.second_factor_refused")
                await uow.commit()

    def _code_check(self, code: str) -> SecondFactorCheck:
        async def check(uow: UnitOfWork, user: User) -> bool:
            if codes.looks_like_totp(code):
                return await self._use_totp_txn(uow, user, code)
            return await self._use_recovery_txn(uow, user, code)

        return check

    async def _use_totp_txn(self, uow: UnitOfWork, user: User, code: str) -> bool:
        row = await store.totp_of(uow.session, user.id)
        if row is None or row.confirmed_at is None:
            return False
        secret = self._opened(row, user)
        step = (
            codes.matching_step(secret, code, self._clock.now(), row.last_step) if secret else None
        )
        if step is None:
            return False
        # Atomic: of two sign-ins racing with one code, only one moves the step on.
        moved = await uow.session.execute(
            update(TotpSecret)
            .where(
                TotpSecret.id == row.id,
                or_(TotpSecret.last_step.is_(None), TotpSecret.last_step < step),
            )
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        )
        return bool(moved.rowcount)  # type: ignore[attr-defined]

    async def _use_recovery_txn(self, uow: UnitOfWork, user: User, code: str) -> bool:
        normalised = codes.normalised_recovery(code)
        if normalised is None:
            return False
        found = await store.unused_recovery(uow.session, user.id, self._recovery_digest(normalised))
        if found is None:
            return False
        spent = await uow.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == found.id, RecoveryCode.used_at.is_(None))
            .values(used_at=self._clock.now())
            .execution_options(synchronize_session=False)
        )
        if not spent.rowcount:  # type: ignore[attr-defined]
            return False
        await audit_txn(self._audit, uow, doer_of(user), user, "mfa.recovery_code_used")
        return True

    # -- the organisation's rule -----------------------------------------------------------

    async def set_org_requirement(self, actor: Actor, org_id: str, required: bool) -> bool:
        """Owners only. Turning it on asks the owner to have a second factor themselves."""
        if actor.org_id != org_id or actor.role != "owner":
            if actor.org_id == org_id and actor.is_admin:
                raise AppError(ErrorCode.FORBIDDEN, "Only owners can change this.")
            raise not_found("organisation")
        async with self._db.transaction() as uow:
            user = await self._user_txn(uow, actor)
            org = await uow.session.get(Organisation, org_id)
            if org is None:
                raise not_found("organisation")
            if required and not user.second_factor:
                raise AppError(
                    ErrorCode.CONFLICT,
                    "Turn on two-factor sign-in for your own account first, on your security "
                    "page: otherwise this would lock you out too.",
                )
            org.require_second_factor = required
            action = "org.second_factor_required" if required else "org.second_factor_optional"
            await self._audit.record_txn(uow, Doer.of(actor), Access(action, None, org.id))
            await uow.commit()
        return required
