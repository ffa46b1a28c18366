"""Accounts: registration, sign-in, sessions and tokens, passwords and resets, throttling."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid
from parlour.core.ids import keyed_digest, new_id, new_token, token_digest
from parlour.core.passwords import Passwords, password_problem
from parlour.core.words import plural
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store
from parlour.features.accounts.actor import Actor, Client, Role
from parlour.features.accounts.models import (
    AuthSession,
    PasswordReset,
    PolicyAcceptance,
    User,
)
from parlour.features.privacy.policy import PolicyBook
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.accounts")

TOKEN_PREFIX = "plr_"  # noqa: S105 - marks our tokens for secret scanners
TOKEN_DAYS = 365
LAST_SEEN_EVERY = timedelta(minutes=5)
REAUTH_FOR = timedelta(minutes=10)
RESETS_PER_HOUR = 3


@dataclass(frozen=True)
class NewAccount:
    """What a person gives to register; the birth date is checked and then dropped.

    ``accept_policy`` is None only for accounts an operator creates: that person has accepted
    nothing yet, and is asked to at sign-in.
    """

    name: str
    email: str
    password: str
    birth_date: date
    accept_policy: str | None
    phone: str | None = None
    title: str | None = None
    department: str | None = None
    location: str | None = None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


class AccountService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        passwords: Passwords,
        secret_key: bytes,
        mailer: Mailer,
        settings: Settings,
        policies: PolicyBook | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._policies = policies or PolicyBook()
        self._passwords = passwords
        self._key = secret_key
        self._mailer = mailer
        self._settings = settings

    # -- registration ---------------------------------------------------------------------

    def check_age(self, birth_date: date, min_age: int) -> None:
        """Refuses before anything is stored; the birth date itself is never kept."""
        today = self._clock.now().date()
        if birth_date > today or birth_date.year < today.year - 130:
            raise invalid("birth_date", "Enter your real date of birth.")
        if age_on(birth_date, today) < min_age:
            raise AppError(
                ErrorCode.UNDER_MINIMUM_AGE,
                f"You must be at least {min_age} years old to use this service.",
                fields={"birth_date": f"You must be at least {min_age}."},
            )

    async def hash_password(self, password: str, field: str = "password") -> str:
        problem = password_problem(password)
        if problem:
            raise invalid(field, problem, ErrorCode.WEAK_PASSWORD)
        return await asyncio.to_thread(self._passwords.hash, password)

    async def create_user_txn(
        self,
        session: AsyncSession,
        org_id: str,
        form: NewAccount,
        role: Role,
        *,
        is_instance_owner: bool = False,
        by_operator: bool = False,
    ) -> User:
        """Validates everything first, then writes the user and their policy acceptance.

        An operator creating an account records no acceptance: only the person can give one.
        """
        policy = self._policies.current(self._clock.now().date())
        accepted = form.accept_policy is not None
        if (accepted or not by_operator) and form.accept_policy != policy.version:
            raise AppError(
                ErrorCode.POLICY_NOT_ACCEPTED,
                f"Read and accept privacy policy version {policy.version} to continue.",
                fields={"accept_policy": "Accept the current privacy policy."},
            )
        password_hash = await self.hash_password(form.password)
        email = form.email.strip().lower()
        if await store.user_by_email(session, email) is not None:
            raise invalid(
                "email", "An account with this email exists already.", ErrorCode.EMAIL_TAKEN
            )
        now = self._clock.now()
        user = User(
            id=new_id(),
            org_id=org_id,
            email=email,
            name=form.name.strip(),
            password_hash=password_hash,
            role=role,
            is_instance_owner=is_instance_owner,
            status="active",
            phone=blank_to_none(form.phone),
            title=blank_to_none(form.title),
            department=blank_to_none(form.department),
            location=blank_to_none(form.location),
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        await session.flush()  # rows without relationships are written in the order flushed
        if accepted:
            session.add(
                PolicyAcceptance(
                    id=new_id(),
                    user_id=user.id,
                    policy_version=policy.version,
                    accepted_at=now,
                    how="signup",
                )
            )
            await session.flush()
        log.info("account created", extra={"event": "account.created", "user": user.id})
        return user

    # -- sessions -------------------------------------------------------------------------

    def _buckets(self, email: str, client: Client) -> list[tuple[str, int]]:
        s = self._settings
        return [
            (
                "a:" + keyed_digest(self._key, "acct:" + email.lower()),
                s.signin_max_failures_per_account,
            ),
            (
                "n:" + keyed_digest(self._key, "addr:" + client.ip_prefix),
                s.signin_max_failures_per_address,
            ),
        ]

    async def _check_throttle(self, session: AsyncSession, buckets: list[tuple[str, int]]) -> None:
        now = self._clock.now()
        window = timedelta(minutes=self._settings.signin_window_minutes)
        for bucket, limit in buckets:
            row = await store.failures(session, bucket)
            if row and row.window_start + window > now and row.failures >= limit:
                wait = int((row.window_start + window - now).total_seconds()) + 1
                minutes = plural(max(1, wait // 60), "minute")
                raise AppError(
                    ErrorCode.TOO_MANY_ATTEMPTS,
                    f"Too many wrong passwords. Try again in {minutes}, or reset your password.",
                    headers={"Retry-After": str(wait)},
                    data={"retry_after": wait},
                )

    async def _record_failure(self, buckets: list[tuple[str, int]]) -> None:
        """Counts a failure in each bucket: one atomic upsert each, in a writer's own turn,
        so a burst of parallel guesses is counted in full and never collides."""
        now = self._clock.now()
        window = timedelta(minutes=self._settings.signin_window_minutes)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            for bucket, _limit in buckets:
                await store.count_failure_txn(uow.session, bucket, now, now - window)
            await uow.commit()

    async def sign_in(
        self, email: str, password: str, client: Client, kind: str = "cookie"
    ) -> tuple[User, AuthSession, str]:
        """The user, their new session and its secret; failures count per account and address."""
        buckets = self._buckets(email, client)
        async with self._db.transaction() as uow:
            await self._check_throttle(uow.session, buckets)
            user = await store.user_by_email(uow.session, email)
            ok = await asyncio.to_thread(
                self._passwords.verify, user.password_hash if user else None, password
            )
            if ok and user is not None:
                if user.status != "active":
                    raise AppError(
                        ErrorCode.FORBIDDEN, "This account is suspended. Ask your administrator."
                    )
                await store.clear_failures_txn(uow.session, buckets[0][0])
                auth, secret = self._new_session_txn(uow.session, user, client, kind)
                await uow.commit()
                log.info("signed in", extra={"event": "auth.signin", "user": user.id})
                return user, auth, secret
        await self._record_failure(buckets)
        log.info("sign-in failed", extra={"event": "auth.signin_failed"})
        raise AppError(ErrorCode.INVALID_CREDENTIALS, "Wrong email or password.")

    def _new_session_txn(
        self, session: AsyncSession, user: User, client: Client, kind: str
    ) -> tuple[AuthSession, str]:
        now = self._clock.now()
        secret = (TOKEN_PREFIX if kind == "token" else "") + new_token()
        days = TOKEN_DAYS if kind == "token" else self._settings.session_days
        auth = AuthSession(
            id=new_id(),
            user_id=user.id,
            kind=kind,
            label=client.label,
            secret_digest=token_digest(secret),
            ip_prefix=client.ip_prefix,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=days),
            reauth_at=now,
        )
        session.add(auth)
        return auth, secret

    async def start_session_txn(
        self, uow: UnitOfWork, user: User, client: Client
    ) -> tuple[AuthSession, str]:
        """A session for someone who just proved who they are (registration, reset)."""
        return self._new_session_txn(uow.session, user, client, "cookie")

    async def authenticate(self, secret: str, via: str) -> Actor | None:
        now = self._clock.now()
        async with self._db.transaction() as uow:
            found = await store.session_and_user(uow.session, token_digest(secret))
            if found is None:
                return None
            auth, user = found
            if auth.kind != via or auth.expires_at <= now or user.status != "active":
                return None
            if now - auth.last_seen_at > LAST_SEEN_EVERY:
                auth.last_seen_at = now
                await uow.commit()
            return Actor(
                user_id=user.id,
                org_id=user.org_id,
                role=user.role,  # type: ignore[arg-type]
                is_instance_owner=user.is_instance_owner,
                session_id=auth.id,
                via=via,  # type: ignore[arg-type]
                signed_in_at=auth.created_at,
                reauth_at=auth.reauth_at,
            )

    async def sign_out(self, actor: Actor) -> None:
        async with self._db.transaction() as uow:
            auth = await uow.session.get(AuthSession, actor.session_id)
            if auth is not None:
                await uow.session.delete(auth)
            await uow.commit()

    async def list_sessions(self, actor: Actor) -> list[AuthSession]:
        async with self._db.transaction() as uow:
            return await store.sessions_of(uow.session, actor.user_id, self._clock.now())

    async def revoke_session(self, actor: Actor, session_id: str) -> None:
        async with self._db.transaction() as uow:
            auth = await uow.session.get(AuthSession, session_id)
            if auth is None or auth.user_id != actor.user_id:
                raise AppError(ErrorCode.NOT_FOUND, "No such session.")
            await uow.session.delete(auth)
            await uow.commit()
        log.info("session revoked", extra={"event": "auth.session_revoked", "user": actor.user_id})

    async def revoke_other_sessions(self, actor: Actor) -> None:
        """Signs out every other browser; API tokens stay (they are revoked one by one)."""
        async with self._db.transaction() as uow:
            await store.delete_sessions_txn(
                uow.session, actor.user_id, keep=actor.session_id, kind="cookie"
            )
            await uow.commit()
        log.info(
            "other sessions revoked",
            extra={"event": "auth.sessions_revoked", "user": actor.user_id},
        )

    async def create_token(
        self, email: str, password: str, name: str, client: Client
    ) -> tuple[AuthSession, str]:
        _user, auth, secret = await self.sign_in(
            email, password, Client(client.ip_prefix, name), kind="token"
        )
        return auth, secret

    # -- re-authentication and passwords --------------------------------------------------

    async def verify_password(self, actor: Actor, password: str) -> User:
        """The signed-in user's password, checked against the same per-account budget of
        failures as sign-in: a stolen session cannot be used to guess it."""
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, actor.user_id)
            account = [self._buckets(user.email, Client("", None))[0]] if user else []
            await self._check_throttle(uow.session, account)
        ok = user is not None and await asyncio.to_thread(
            self._passwords.verify, user.password_hash, password
        )
        if not ok or user is None:
            await self._record_failure(account)
            raise AppError(
                ErrorCode.REAUTH_REQUIRED,
                "That password is not right.",
                fields={"password": "Wrong password."},
            )
        return user

    async def reauthenticate(self, actor: Actor, password: str) -> Actor:
        """Records a password typed now; returns the actor as the next request will see it."""
        await self.verify_password(actor, password)
        now = self._clock.now()
        async with self._db.transaction() as uow:
            auth = await uow.session.get(AuthSession, actor.session_id)
            if auth is not None:
                auth.reauth_at = now
            await uow.commit()
        return replace(actor, reauth_at=now)

    def require_recent_auth(self, actor: Actor) -> None:
        """Before an export, deletion or email change: a password typed in the last minutes."""
        if actor.reauth_at is None or self._clock.now() - actor.reauth_at > REAUTH_FOR:
            raise AppError(ErrorCode.REAUTH_REQUIRED, "Confirm your password to continue.")

    async def change_password(self, actor: Actor, current: str, new: str) -> None:
        await self.verify_password(actor, current)
        new_hash = await self.hash_password(new, "new_password")
        async with self._db.transaction() as uow:
            user = await store.user_by_id(uow.session, actor.user_id)
            if user is None:
                raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in again.")
            user.password_hash = new_hash
            user.updated_at = self._clock.now()
            await store.delete_sessions_txn(uow.session, user.id, keep=actor.session_id)
            await store.void_resets_txn(uow.session, user.id, self._clock.now())
            await uow.commit()
        log.info(
            "password changed", extra={"event": "auth.password_changed", "user": actor.user_id}
        )

    async def request_reset(self, email: str) -> None:
        """Sends a reset link if such an account exists; the answer is the same either way."""
        async with self._db.transaction() as uow:
            user = await store.user_by_email(uow.session, email)
            if user is None or user.status != "active":
                return
            link = await self.issue_reset_txn(uow, user)
            if link is None:
                return
            await uow.commit()
        log.info("password reset requested", extra={"event": "auth.reset_requested"})

    async def issue_reset_txn(self, uow: UnitOfWork, user: User) -> str | None:
        """Writes a single-use reset and mails its link after commit; None when rate-limited."""
        now = self._clock.now()
        recent = await store.recent_resets(uow.session, user.id, now - timedelta(hours=1))
        if recent >= RESETS_PER_HOUR:
            return None
        secret = new_token()
        minutes = self._settings.reset_link_minutes
        uow.session.add(
            PasswordReset(
                id=new_id(),
                user_id=user.id,
                token_digest=token_digest(secret),
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
        )
        link = f"{self._settings.base_url}/reset/confirm?token={secret}"
        mail = Mail(
            to=user.email,
            subject="Reset your Parlour password",
            body=(
                f"Hello {user.name},\n\nTo choose a new password, open this link within {minutes} "
                f"minutes. It works once.\n\n{link}\n\nIf you did not ask for this, ignore this "
                "mail: your password stays as it is.\n"
            ),
        )

        self._mailer.queue_txn(uow, mail)
        return link

    async def confirm_reset(self, secret: str, new_password: str) -> None:
        new_hash = await self.hash_password(new_password, "new_password")
        now = self._clock.now()
        async with self._db.transaction() as uow:
            reset = await store.reset_by_digest(uow.session, token_digest(secret))
            if reset is None or reset.used_at is not None or reset.expires_at <= now:
                raise AppError(
                    ErrorCode.TOKEN_INVALID,
                    "This reset link has expired or was used already. Ask for a new one.",
                    fields={"token": "expired or used"},
                )
            user = await store.user_by_id(uow.session, reset.user_id)
            if user is None:
                raise AppError(ErrorCode.TOKEN_INVALID, "This reset link is no longer valid.")
            user.password_hash = new_hash
            user.updated_at = now
            await store.void_resets_txn(uow.session, user.id, now)
            await store.delete_sessions_txn(uow.session, user.id)
            await store.clear_failures_txn(
                uow.session, self._buckets(user.email, Client("", None))[0][0]
            )
            await uow.commit()
        log.info("password reset completed", extra={"event": "auth.reset_done"})
