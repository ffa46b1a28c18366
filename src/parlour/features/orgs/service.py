"""Organisations: first-run setup, membership, roles, invitations and admin actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import new_id, new_token, token_digest
from parlour.core.words import plural
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import ROLES, Actor, Client, Role
from parlour.features.accounts.models import User
from parlour.features.accounts.service import AccountService, NewAccount
from parlour.features.audit.service import OPERATOR, Access, AuditLog, Doer
from parlour.features.orgs import store
from parlour.features.orgs.models import InstanceSetup, Invitation, Organisation
from parlour.mail.service import Mail, Mailer
from parlour.settings import Settings

log = logging.getLogger("parlour.orgs")

SETUP_LINK_HOURS = 24
# What an admin sees of each member in the member list (recorded as a read, P-ADM-2).
MEMBER_FIELDS = ("name", "email", "phone", "title", "department", "location", "role", "status")
RESET_FIELDS = ("password", "sessions")


@dataclass(frozen=True)
class InvitationLink:
    invitation: Invitation
    link: str


@dataclass(frozen=True)
class Joined:
    user: User
    session_secret: str


class OrgService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountService,
        mailer: Mailer,
        settings: Settings,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._mailer = mailer
        self._settings = settings
        self._audit = audit

    # -- first run ------------------------------------------------------------------------

    async def setup_link(self) -> str | None:
        """A fresh one-time link while the instance has no owner; None once it has one."""
        async with self._db.transaction() as uow:
            if await accounts_store.count_instance_owners(uow.session):
                return None
            # Earlier links stay valid for a day: each node of a cluster prints its own.
            secret = new_token()
            uow.session.add(
                InstanceSetup(
                    id=new_id(), token_digest=token_digest(secret), created_at=self._clock.now()
                )
            )
            await uow.commit()
        return f"{self._settings.base_url}/setup?token={secret}"

    async def complete_setup(
        self, secret: str, org_name: str, form: NewAccount, client: Client
    ) -> Joined:
        async with self._db.transaction() as uow:
            setup = await self._usable_setup_txn(uow.session, secret)
            self._accounts.check_age(form.birth_date, self._settings.default_min_age)
            org = await self._new_org_txn(uow.session, org_name, self._settings.default_min_age)
            user = await self._accounts.create_user_txn(
                uow.session, org.id, form, "owner", is_instance_owner=True
            )
            setup.used_at = self._clock.now()
            _auth, session_secret = await self._accounts.start_session_txn(uow, user, client)
            await uow.commit()
        log.info("instance set up", extra={"event": "instance.setup", "org": org.id})
        return Joined(user, session_secret)

    async def setup_pending(self) -> bool:
        """True while the instance has no owner: its first page then says how to finish setup."""
        async with self._db.transaction() as uow:
            return not await accounts_store.count_instance_owners(uow.session)

    async def check_setup_link(self, secret: str) -> None:
        """Refuses a used, stale or unknown setup link before anyone fills in the form."""
        async with self._db.transaction() as uow:
            await self._usable_setup_txn(uow.session, secret)

    async def _usable_setup_txn(self, session: AsyncSession, secret: str) -> InstanceSetup:
        setup = await store.setup_by_digest(session, token_digest(secret))
        fresh = self._clock.now() - timedelta(hours=SETUP_LINK_HOURS)
        if setup is None or setup.used_at is not None or setup.created_at < fresh:
            raise AppError(ErrorCode.TOKEN_INVALID, "This setup link is no longer valid.")
        if await accounts_store.count_instance_owners(session):
            raise AppError(ErrorCode.SETUP_DONE, "This Parlour instance is set up already.")
        return setup

    async def _new_org_txn(self, session: AsyncSession, name: str, min_age: int) -> Organisation:
        name = name.strip()
        if not name:
            raise invalid("org_name", "Give the organisation a name.")
        org = Organisation(
            id=new_id(), name=name[:120], min_age=min_age, created_at=self._clock.now()
        )
        session.add(org)
        await session.flush()
        return org

    # -- organisations --------------------------------------------------------------------

    async def create_org(
        self, actor: Actor, name: str, min_age: int, owner_email: str | None
    ) -> tuple[Organisation, InvitationLink]:
        """The instance owner opens an organisation and invites its first owner."""
        if not actor.is_instance_owner:
            raise AppError(ErrorCode.FORBIDDEN, "Only the instance owner can create organisations.")
        self._check_min_age(min_age)
        async with self._db.transaction() as uow:
            org = await self._new_org_txn(uow.session, name, min_age)
            link = self._invite_txn(uow, org, actor.user_id, owner_email, "owner")
            await uow.commit()
        return org, link

    async def list_orgs(self, actor: Actor) -> list[Organisation]:
        async with self._db.transaction() as uow:
            if actor.is_instance_owner:
                return await store.all_orgs(uow.session)
            org = await uow.session.get(Organisation, actor.org_id)
            return [org] if org else []

    async def access_org(self, actor: Actor, org_id: str) -> Organisation:
        """The only way to load an organisation: your own, or 'not found'."""
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, org_id)
        if org is None or org.id != actor.org_id:
            raise not_found("organisation")
        return org

    def _require_admin(self, actor: Actor, org_id: str) -> None:
        if actor.org_id != org_id:
            raise not_found("organisation")
        if not actor.is_admin:
            raise AppError(
                ErrorCode.FORBIDDEN, "Only the organisation's owners and admins can do this."
            )

    @staticmethod
    def _check_min_age(min_age: int) -> None:
        if min_age not in (16, 17, 18):
            raise invalid("min_age", "The minimum age is 16, 17 or 18.")

    async def update_org(
        self, actor: Actor, org_id: str, name: str | None, min_age: int | None
    ) -> Organisation:
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, org_id)
            if org is None:
                raise not_found("organisation")
            if name is not None:
                if not name.strip():
                    raise invalid("name", "Give the organisation a name.")
                org.name = name.strip()
            if min_age is not None:
                self._check_min_age(min_age)
                org.min_age = min_age
            await uow.commit()
        return org

    # -- members --------------------------------------------------------------------------

    async def list_members(self, actor: Actor, org_id: str) -> list[User]:
        await self.access_org(actor, org_id)
        async with self._db.transaction() as uow:
            members = await store.members(uow.session, org_id)
            if not actor.is_admin:
                return members
            reads = [
                Access("member.list", m.id, org_id, MEMBER_FIELDS)
                for m in members
                if m.id != actor.user_id
            ]
            await self._audit.record_txn(uow, Doer.of(actor), *reads)
            await uow.commit()
        return members

    async def _access_member_txn(
        self, session: AsyncSession, actor: Actor, org_id: str, user_id: str
    ) -> User:
        self._require_admin(actor, org_id)
        user = await accounts_store.user_by_id(session, user_id)
        if user is None or user.org_id != org_id:
            raise not_found("member")
        if user.role == "owner" and actor.role != "owner":
            raise AppError(ErrorCode.FORBIDDEN, "Only an owner can manage another owner.")
        return user

    async def get_member(self, actor: Actor, org_id: str, user_id: str) -> User:
        async with self._db.transaction() as uow:
            return await self._access_member_txn(uow.session, actor, org_id, user_id)

    async def change_role(self, actor: Actor, org_id: str, user_id: str, role: Role) -> User:
        if role not in ROLES:
            raise invalid("role", "The role is owner, admin or member.")
        if role == "owner" and actor.role != "owner":
            raise AppError(ErrorCode.FORBIDDEN, "Only an owner can make someone an owner.")
        async with self._db.transaction() as uow:
            user = await self._access_member_txn(uow.session, actor, org_id, user_id)
            if user.role == "owner" and role != "owner":
                await self._keep_an_owner_txn(uow.session, org_id)
            user.role = role
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("member.role_change", user.id, org_id, ("role",))
            )
            await uow.commit()
        log.info("role changed", extra={"event": "org.role_changed", "user": user_id})
        return user

    async def _keep_an_owner_txn(self, session: AsyncSession, org_id: str) -> None:
        if await store.count_owners(session, org_id) <= 1:
            raise AppError(ErrorCode.LAST_OWNER, "An organisation needs at least one owner.")

    async def set_status(self, actor: Actor, org_id: str, user_id: str, status: str) -> User:
        """Suspend (signs the member out everywhere) or reactivate a member."""
        if status not in ("active", "suspended"):
            raise invalid("status", "The status is active or suspended.")
        if user_id == actor.user_id:
            raise AppError(ErrorCode.FORBIDDEN, "You cannot suspend yourself.")
        async with self._db.transaction() as uow:
            user = await self._access_member_txn(uow.session, actor, org_id, user_id)
            if user.role == "owner" and status == "suspended":
                await self._keep_an_owner_txn(uow.session, org_id)
            user.status = status
            if status == "suspended":
                await accounts_store.delete_sessions_txn(uow.session, user.id)
            action = "member.suspend" if status == "suspended" else "member.reactivate"
            await self._audit.record_txn(
                uow, Doer.of(actor), Access(action, user.id, org_id, ("status", "sessions"))
            )
            await uow.commit()
        log.info("member status changed", extra={"event": "org.status_changed", "user": user_id})
        return user

    async def force_password_reset(self, actor: Actor, org_id: str, user_id: str) -> None:
        """The old password stops working; the member gets a reset link; nobody learns one."""
        async with self._db.transaction() as uow:
            user = await self._access_member_txn(uow.session, actor, org_id, user_id)
            user.password_hash = None
            await accounts_store.delete_sessions_txn(uow.session, user.id)
            await self._accounts.issue_reset_txn(uow, user)
            await self._audit.record_txn(
                uow, Doer.of(actor), Access("member.password_reset", user.id, org_id, RESET_FIELDS)
            )
            await uow.commit()
        log.info("password reset forced", extra={"event": "org.reset_forced", "user": user_id})

    # -- invitations ----------------------------------------------------------------------

    def _invite_txn(
        self, uow: UnitOfWork, org: Organisation, by: str | None, email: str | None, role: Role
    ) -> InvitationLink:
        now = self._clock.now()
        secret = new_token()
        invitation = Invitation(
            id=new_id(),
            org_id=org.id,
            email=email.strip().lower() if email else None,
            role=role,
            token_digest=token_digest(secret),
            invited_by=by,
            created_at=now,
            expires_at=now + timedelta(days=self._settings.invitation_days),
        )
        uow.session.add(invitation)
        link = f"{self._settings.base_url}/signup?invitation={secret}"
        if invitation.email:
            mail = Mail(
                to=invitation.email,
                subject=f"You are invited to {org.name} on Parlour",
                body=(
                    f"You have been invited to join {org.name} on Parlour.\n\nCreate your account "
                    f"here (the link works for {plural(self._settings.invitation_days, 'day')})"
                    f":\n\n{link}\n"
                ),
            )

            self._mailer.queue_txn(uow, mail)
        return InvitationLink(invitation, link)

    async def invite(
        self, actor: Actor, org_id: str, email: str | None, role: Role
    ) -> InvitationLink:
        self._require_admin(actor, org_id)
        if role not in ROLES:
            raise invalid("role", "The role is owner, admin or member.")
        if role == "owner" and actor.role != "owner":
            raise AppError(ErrorCode.FORBIDDEN, "Only an owner can invite an owner.")
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, org_id)
            if org is None:
                raise not_found("organisation")
            link = self._invite_txn(uow, org, actor.user_id, email, role)
            await uow.commit()
        log.info("invitation sent", extra={"event": "org.invited", "org": org_id})
        return link

    async def list_invitations(self, actor: Actor, org_id: str) -> list[Invitation]:
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            return await store.open_invitations(uow.session, org_id, self._clock.now())

    async def revoke_invitation(self, actor: Actor, org_id: str, invitation_id: str) -> None:
        self._require_admin(actor, org_id)
        async with self._db.transaction() as uow:
            invitation = await uow.session.get(Invitation, invitation_id)
            if invitation is None or invitation.org_id != org_id:
                raise not_found("invitation")
            invitation.revoked_at = self._clock.now()
            await uow.commit()

    async def _usable_invitation_txn(
        self, session: AsyncSession, secret: str
    ) -> tuple[Invitation, Organisation]:
        invitation = await store.invitation_by_digest(session, token_digest(secret))
        now = self._clock.now()
        if (
            invitation is None
            or invitation.revoked_at is not None
            or invitation.expires_at <= now
            or (invitation.email is not None and invitation.accepted_at is not None)
        ):
            raise AppError(
                ErrorCode.INVITATION_INVALID, "This invitation has expired or was withdrawn."
            )
        org = await session.get(Organisation, invitation.org_id)
        if org is None:
            raise AppError(
                ErrorCode.INVITATION_INVALID, "This invitation has expired or was withdrawn."
            )
        return invitation, org

    async def preview_invitation(self, secret: str) -> tuple[Invitation, Organisation]:
        async with self._db.transaction() as uow:
            return await self._usable_invitation_txn(uow.session, secret)

    async def join(self, secret: str, form: NewAccount, client: Client) -> Joined:
        """Registration through an invitation: the age check comes before anything is written."""
        async with self._db.transaction() as uow:
            invitation, org = await self._usable_invitation_txn(uow.session, secret)
            self._accounts.check_age(form.birth_date, org.min_age)
            if invitation.email and invitation.email != form.email.strip().lower():
                raise invalid("email", "Use the address the invitation was sent to.")
            user = await self._accounts.create_user_txn(uow.session, org.id, form, invitation.role)  # type: ignore[arg-type]
            if invitation.email:
                invitation.accepted_at = self._clock.now()
            _auth, session_secret = await self._accounts.start_session_txn(uow, user, client)
            await uow.commit()
        return Joined(user, session_secret)

    async def create_user(self, org_id: str, form: NewAccount, role: Role) -> User:
        """Operator path (`parlour admin create-user`): the same checks as self-registration,
        but no policy acceptance is recorded unless the form carries one the person gave."""
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, org_id)
            if org is None:
                raise not_found("organisation")
            self._accounts.check_age(form.birth_date, org.min_age)
            user = await self._accounts.create_user_txn(
                uow.session, org.id, form, role, by_operator=True
            )
            await uow.commit()
        return user

    async def operator_reset_link(self, email: str) -> str:
        """Operator path (`parlour admin reset-password`): the old password stops working."""
        async with self._db.transaction() as uow:
            user = await accounts_store.user_by_email(uow.session, email)
            if user is None:
                raise not_found("user")
            user.password_hash = None
            await accounts_store.delete_sessions_txn(uow.session, user.id)
            link = await self._accounts.issue_reset_txn(uow, user)
            if link is None:
                raise AppError(ErrorCode.TOO_MANY_ATTEMPTS, "Too many reset links this hour.")
            await self._audit.record_txn(
                uow, OPERATOR, Access("member.password_reset", user.id, user.org_id, RESET_FIELDS)
            )
            await uow.commit()
        return link

    async def owner_invitation_operator(self, org_id: str, email: str | None) -> str:
        async with self._db.transaction() as uow:
            org = await uow.session.get(Organisation, org_id)
            if org is None:
                raise not_found("organisation")
            link = self._invite_txn(uow, org, None, email, "owner")
            await uow.commit()
        return link.link

    async def create_org_operator(self, name: str, min_age: int) -> Organisation:
        self._check_min_age(min_age)
        async with self._db.transaction() as uow:
            org = await self._new_org_txn(uow.session, name, min_age)
            await uow.commit()
        return org
