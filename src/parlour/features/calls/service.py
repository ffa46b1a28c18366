"""Calls: start, answer, decline, hang up, relay signalling, and keep the call detail record.

Every step loads the call, runs the pure state machine (`state.step`), writes the new state and
the record in the same transaction, and sends the machine's signals after commit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from parlour.core.clock import Clock, as_utc
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import keyed_digest, new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.apikeys import Scope, require_scope
from parlour.features.calls import state as machine
from parlour.features.calls import store
from parlour.features.calls.liveness import Liveness, Sweeper, gone_at
from parlour.features.calls.models import Call, Guest, Participant, Quality
from parlour.features.calls.records import (
    ACTIVE_LEGS,
    CallView,
    Endpoint,
    GuestPass,
    Party,
    QualityReport,
    apply_endpoint,
    as_party,
    call_summary,
    call_wire,
    participant_key,
    to_machine,
)
from parlour.features.chat import store as chat_store
from parlour.features.chat.events import EventLog, device_channel, user_channel
from parlour.features.chat.service import ConversationService
from parlour.features.consent.rules import DataSubject
from parlour.features.consent.service import ConsentService
from parlour.settings import Settings

log = logging.getLogger("parlour.calls")

GUEST_LINK_LIFETIME = timedelta(hours=24)
SIGNAL_KINDS = frozenset({"offer", "answer", "ice", "renegotiate"})


Step = Callable[[machine.Call], machine.Command]
Watcher = Callable[[str, int | None, machine.Call], Awaitable[None]]
Unattended = Callable[[Call, list[Participant]], machine.Command | None]


class CallService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventLog,
        conversations: ConversationService,
        settings: Settings,
        secret_key: bytes,
        consent: ConsentService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._conversations = conversations
        self._settings = settings
        self._secret = secret_key
        self._consent = consent
        self.liveness = Liveness(db, clock, settings.call_leg_timeout_seconds)
        self._sweeper = Sweeper(self.expire_due)
        self._watchers: list[Watcher] = []
        self.sfu_enabled = settings.sfu_url is not None
        self.sfu_capacity = settings.call_sfu_limit

    def watch(self, watcher: Watcher) -> None:
        """Called after each committed step with the call as it now stands."""
        self._watchers.append(watcher)

    # -- starting -------------------------------------------------------------------------

    async def start(
        self,
        actor: Actor,
        conversation_id: str,
        media: machine.Media,
        device_id: str,
        endpoint: Endpoint,
    ) -> CallView:
        await self.leave_stale()  # a leg whose browser is gone must not keep anyone busy
        now = self._clock.now()
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            conversation, _member = await self._conversations.access_txn(
                uow.session, actor, conversation_id
            )
            members = await chat_store.current_members(uow.session, conversation_id)
            others = [m.user_id for m in members if m.user_id != actor.user_id]
            blockers = await chat_store.blockers_among(uow.session, actor.user_id, others)
            if conversation.kind == "direct" and (blockers or not others):
                raise AppError(ErrorCode.NOT_DELIVERED, "Your call could not be put through.")
            callees = [u for u in others if u not in blockers]
            mode = self._check_size(len(callees) + 1, None)
            busy = await store.busy_among(uow.session, [actor.user_id, *callees])
            if actor.user_id in busy:
                raise AppError(
                    ErrorCode.CALL_STATE,
                    "You are already in a call. Hang up first.",
                    data={"call_id": await store.live_call_of(uow.session, actor.user_id)},
                )
            call, signals = machine.start(
                machine.Invite(new_id(), actor.user_id, tuple(callees), media, now, frozenset(busy))
            )
            row = Call(
                id=call.id,
                org_id=actor.org_id,
                conversation_id=conversation_id,
                caller_id=actor.user_id,
                media=media,
                state=call.state.value,
                created_at=now,
                ring_until=now + timedelta(seconds=self._settings.call_ring_seconds),
                mode=mode,
                sfu_room=secrets.randbelow(2**52) + 1 if mode == "sfu" else None,
            )
            uow.session.add(row)
            parts = await self._new_participants_txn(uow, call, actor.user_id, endpoint)
            caller = next(p for p in parts if p.user_id == actor.user_id)
            caller.device_id = device_id
            caller.last_seen_at = now
            view = await self._write_txn(uow, row, parts, call, signals)
            started = {"call_id": row.id, "caller_id": actor.user_id, "media": media}
            await self._events.append_txn(
                uow,
                "call.started",
                conversation_id=conversation_id,
                actor_id=actor.user_id,
                ref=row.id,
                data=started,
            )
            await uow.commit()
        return view

    def _check_size(self, size: int, mode: str | None) -> str:
        """The mode a call of this size needs: a mesh up to the limit, else the SFU."""
        mesh, sfu = self._settings.call_mesh_limit, self._settings.call_sfu_limit
        if size <= mesh and mode != "sfu":
            return "mesh"
        if mode == "mesh":
            raise AppError(
                ErrorCode.CALL_TOO_LARGE,
                f"This call is browser to browser, which works for at most {mesh} people.",
            )
        if not self.sfu_enabled:
            raise AppError(
                ErrorCode.CALL_TOO_LARGE,
                f"Calls of more than {mesh} people need an SFU, "
                "and none is configured on this server.",
            )
        if size > sfu:
            raise AppError(ErrorCode.CALL_TOO_LARGE, f"Calls hold at most {sfu} people.")
        return "sfu"

    async def _new_participants_txn(
        self, uow: UnitOfWork, call: machine.Call, caller_id: str, endpoint: Endpoint
    ) -> list[Participant]:
        parts = []
        for leg in call.legs:
            user = await accounts_store.user_by_id(uow.session, leg.participant)
            if user is None:
                raise not_found("user")
            part = Participant(
                call_id=call.id,
                user_id=user.id,
                role="caller" if user.id == caller_id else "callee",
                user_name=user.email,
                display_name=user.name,
                state=leg.state.value,
            )
            if user.id == caller_id:
                apply_endpoint(part, endpoint)
            uow.session.add(part)
            parts.append(part)
        await uow.session.flush()
        return parts

    # -- steps ----------------------------------------------------------------------------

    async def accept(
        self, who: Actor | GuestPass, call_id: str, device_id: str, endpoint: Endpoint
    ) -> CallView:
        party = as_party(who)

        def command(call: machine.Call) -> machine.Command:
            leg_state = call.leg(party.key).state if call.has(party.key) else None
            if leg_state in machine.WAITING:
                return machine.Accept(party.key, device_id, self._clock.now())
            return machine.Join(party.key, device_id, self._clock.now())

        return await self._step(party, call_id, command, endpoint, device_id, may_join=True)

    async def ringing(self, who: Actor | GuestPass, call_id: str) -> CallView:
        party = as_party(who)
        return await self._step(
            party, call_id, lambda _c: machine.Ringing(party.key, self._clock.now())
        )

    async def decline(self, who: Actor | GuestPass, call_id: str) -> CallView:
        party = as_party(who)
        return await self._step(
            party, call_id, lambda _c: machine.Decline(party.key, self._clock.now())
        )

    async def connected(self, who: Actor | GuestPass, call_id: str) -> CallView:
        party = as_party(who)
        return await self._step(
            party, call_id, lambda _c: machine.MediaUp(party.key, self._clock.now())
        )

    async def hangup(
        self,
        who: Actor | GuestPass,
        call_id: str,
        reason: machine.Disconnect = machine.Disconnect.HANGUP,
    ) -> CallView:
        party = as_party(who)
        return await self._step(
            party, call_id, lambda _c: machine.Hangup(party.key, self._clock.now(), reason)
        )

    async def _step(
        self,
        party: Party,
        call_id: str,
        make: Step,
        endpoint: Endpoint | None = None,
        device_id: str | None = None,
        may_join: bool = False,
    ) -> CallView:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            row, parts = await self._access_txn(uow, party, call_id, may_join)
            call = to_machine(row, parts)
            try:
                call, signals = machine.step(call, make(call))
            except machine.InvalidTransition as exc:
                raise AppError(ErrorCode.CALL_STATE, f"Not now: {exc.reason}.") from exc
            mine = next((p for p in parts if participant_key(p) == party.key), None)
            if mine is None:
                mine = await self._joiner_txn(uow, row, party)
                parts.append(mine)
            if endpoint is not None:
                apply_endpoint(mine, endpoint)
            if device_id is not None:
                mine.device_id = device_id
                mine.last_seen_at = self._clock.now()
            self._check_size(len(call.active_participants), row.mode)
            view = await self._write_txn(uow, row, parts, call, signals)
            await uow.commit()
        return view

    async def _access_txn(
        self, uow: UnitOfWork, party: Party, call_id: str, may_join: bool
    ) -> tuple[Call, list[Participant]]:
        """A call is reachable by its participants, (to join) by its conversation's current
        members, and by the guests it has passes for; anyone else gets 'not found'."""
        row = await store.call_by_id(uow.session, call_id)
        if row is None or row.org_id != party.org_id:
            raise not_found("call")
        if party.guest is not None and party.guest.call_id != call_id:
            raise not_found("call")
        parts = await store.participants(uow.session, call_id)
        if any(participant_key(p) == party.key for p in parts):
            return row, parts
        if may_join and party.guest is not None:
            return row, parts
        if may_join and party.actor is not None and row.conversation_id is not None:
            await self._conversations.access_txn(uow.session, party.actor, row.conversation_id)
            return row, parts
        raise not_found("call")

    async def _joiner_txn(self, uow: UnitOfWork, row: Call, party: Party) -> Participant:
        if party.guest is not None:
            guest = await uow.session.get(Guest, party.guest.guest_id)
            assert guest is not None  # noqa: S101 - the pass was checked
            part = Participant(
                call_id=row.id,
                guest_id=guest.id,
                role="guest",
                display_name=guest.display_name or "Guest",
                state=machine.LegState.ACCEPTED.value,
            )
        else:
            assert party.actor is not None  # noqa: S101 - a member or a guest
            user = await accounts_store.user_by_id(uow.session, party.actor.user_id)
            assert user is not None  # noqa: S101 - the actor exists
            part = Participant(
                call_id=row.id,
                user_id=user.id,
                role="callee",
                user_name=user.email,
                display_name=user.name,
                state=machine.LegState.ACCEPTED.value,
            )
        uow.session.add(part)
        return part

    async def _write_txn(
        self,
        uow: UnitOfWork,
        row: Call,
        parts: list[Participant],
        call: machine.Call,
        signals: list[machine.Signal],
    ) -> CallView:
        by_key = {participant_key(p): p for p in parts}
        for leg in call.legs:
            part = by_key[leg.participant]
            part.state = leg.state.value
            part.joined_at = leg.joined_at
            part.left_at = leg.left_at
            part.disconnect = leg.disconnect.value if leg.disconnect else None
            if leg.device is not None:
                part.device_id = leg.device
        row.state = call.state.value
        row.answered_at = call.answered_at
        row.connected_at = call.connected_at
        row.ended_at = call.ended_at
        row.outcome = call.outcome.value if call.outcome else None
        row.duration_seconds = call.duration_seconds
        row.participants = sum(1 for p in parts if p.joined_at is not None)
        row.guests = sum(1 for p in parts if p.role == "guest" and p.joined_at is not None)
        row.version = (row.version or 0) + 1
        await uow.session.flush()
        if call.state is machine.CallState.ENDED and row.conversation_id is not None:
            await self._events.append_txn(
                uow,
                "call.ended",
                conversation_id=row.conversation_id,
                actor_id=row.caller_id,
                ref=row.id,
                data=call_summary(row),
            )
        state = call_wire(row, parts)
        uow.after_commit(lambda: self._send(signals, state))
        for watcher in self._watchers:
            uow.after_commit(functools.partial(watcher, row.id, row.sfu_room, call))
        return CallView(row, parts)

    async def _send(self, signals: list[machine.Signal], state: dict[str, Any]) -> None:
        for signal in signals:
            wire: dict[str, Any] = {"type": signal.type, "data": {**signal.data, "call": state}}
            if signal.except_device:
                wire["except_device"] = signal.except_device
            channels = [user_channel(u) for u in signal.to]
            await self._events.publish_to(wire, channels)

    # -- guests ---------------------------------------------------------------------------

    async def create_guest_link(self, actor: Actor, call_id: str) -> tuple[str, datetime]:
        """A join link for one guest, made by someone in the call; valid while the call
        lasts, at most a day. Returns the link's secret and its expiry."""
        party = as_party(actor)
        secret = secrets.token_urlsafe(24)
        now = self._clock.now()
        expires = now + GUEST_LINK_LIFETIME
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, party, call_id, may_join=False)
            mine = next(p for p in parts if participant_key(p) == party.key)
            if row.state == machine.CallState.ENDED.value or mine.state not in ACTIVE_LEGS:
                raise AppError(ErrorCode.CALL_STATE, "Only someone in a live call can invite.")
            uow.session.add(
                Guest(
                    id=new_id(),
                    call_id=row.id,
                    token_digest=self._guest_digest(secret),
                    created_by=actor.user_id,
                    created_at=now,
                    expires_at=expires,
                )
            )
            await uow.commit()
        return secret, expires

    async def guest_join(self, secret: str, display_name: str) -> GuestPass:
        """Opens a guest link with a display name, the only thing a guest gives (P-ACC-7)."""
        name = display_name.strip()
        if not name or len(name) > 60:
            raise invalid("display_name", "Give a name of 1 to 60 characters.")
        async with self._db.transaction() as uow:
            guest = await store.guest_by_digest(uow.session, self._guest_digest(secret))
            call = await self._live_guest_call_txn(uow, guest)
            assert guest is not None  # noqa: S101 - checked above
            guest.display_name = name
            await uow.commit()
            return GuestPass(guest.id, call.id, call.org_id)

    async def guest_link(self, secret: str) -> str:
        """The guest id behind a link that still works, without using it; TOKEN_INVALID
        once it expired or its call ended."""
        async with self._db.transaction() as uow:
            guest = await store.guest_by_digest(uow.session, self._guest_digest(secret))
            await self._live_guest_call_txn(uow, guest)
            assert guest is not None  # noqa: S101 - checked above
            return guest.id

    async def guest_pass(self, guest_id: str) -> GuestPass | None:
        """The pass behind a guest cookie, or None once its call ended or it expired."""
        async with self._db.transaction() as uow:
            guest = await uow.session.get(Guest, guest_id)
            try:
                call = await self._live_guest_call_txn(uow, guest)
            except AppError:
                return None
            assert guest is not None  # noqa: S101 - checked above
            return GuestPass(guest.id, call.id, call.org_id)

    async def _live_guest_call_txn(self, uow: UnitOfWork, guest: Guest | None) -> Call:
        call = None if guest is None else await store.call_by_id(uow.session, guest.call_id)
        if (
            guest is None
            or call is None
            or as_utc(guest.expires_at) <= self._clock.now()
            or call.state == machine.CallState.ENDED.value
        ):
            raise AppError(
                ErrorCode.TOKEN_INVALID, "This call link has expired or the call has ended."
            )
        return call

    def _guest_digest(self, secret: str) -> str:
        return keyed_digest(self._secret, "guest-link:" + secret)

    # -- media signalling -----------------------------------------------------------------

    async def relay(
        self,
        who: Actor | GuestPass,
        device_id: str,
        call_id: str,
        to: str,
        kind: str,
        data: dict[str, Any],
    ) -> None:
        """Passes an offer, answer or ICE candidate to the device that holds the other leg."""
        if kind not in SIGNAL_KINDS:
            raise invalid("kind", "One of: " + ", ".join(sorted(SIGNAL_KINDS)) + ".")
        party = as_party(who)
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, party, call_id, may_join=False)
        call = to_machine(row, parts)
        mine = call.leg(party.key)
        if not machine.can_relay(call, party.key, to) or mine.device != device_id:
            raise AppError(ErrorCode.CALL_STATE, "Signalling passes only between active legs.")
        target = call.leg(to).device
        if target is None:
            raise AppError(ErrorCode.CALL_STATE, "That participant has no device in the call.")
        wire = {
            "type": "call.signal",
            "data": {"call_id": call_id, "from": party.key, "kind": kind, "payload": data},
        }
        await self._events.publish_to(wire, [device_channel(target)])

    async def move_to_device(
        self, who: Actor | GuestPass, call_id: str, device_id: str
    ) -> CallView:
        """The participant's page reconnected its stream (a new device id): their leg moves to
        it, so signalling reaches them again and the leg stays live."""
        party = as_party(who)
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            row, parts = await self._access_txn(uow, party, call_id, may_join=False)
            mine = next(p for p in parts if participant_key(p) == party.key)
            if row.state == machine.CallState.ENDED.value or mine.state not in ACTIVE_LEGS:
                raise AppError(ErrorCode.CALL_STATE, "You are no longer in this call.")
            mine.device_id = device_id
            mine.last_seen_at = self._clock.now()
            await uow.commit()
        return CallView(row, parts)

    async def active_leg(self, who: Actor | GuestPass, call_id: str) -> tuple[Call, Party]:
        """The call, for someone whose leg is in it now; 'not found' or a state conflict
        otherwise."""
        party = as_party(who)
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, party, call_id, may_join=False)
        mine = next(p for p in parts if participant_key(p) == party.key)
        if row.state == machine.CallState.ENDED.value or mine.state not in ACTIVE_LEGS:
            raise AppError(ErrorCode.CALL_STATE, "Answer or join the call first.")
        return row, party

    # -- record, history, quality ---------------------------------------------------------

    async def get(self, who: Actor | GuestPass, call_id: str) -> CallView:
        require_scope(who, Scope.CALLS_READ)
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, as_party(who), call_id, may_join=True)
            return await _view_txn(uow, row, parts)

    async def history(
        self, actor: Actor, conversation_id: str | None, before: datetime | None, limit: int
    ) -> list[CallView]:
        require_scope(actor, Scope.CALLS_READ)
        async with self._db.transaction() as uow:
            if conversation_id is not None:
                await self._conversations.access_txn(uow.session, actor, conversation_id)
            rows = await store.calls_of(uow.session, actor.user_id, conversation_id, before, limit)
            parts = {r.id: await store.participants(uow.session, r.id) for r in rows}
            people = [p.user_id for ps in parts.values() for p in ps if p.user_id is not None]
            gone = await store.gone_among(uow.session, people)  # one query for the whole page
            return [CallView(r, parts[r.id], gone) for r in rows]

    async def report_quality(
        self, who: Actor | GuestPass, call_id: str, report: QualityReport
    ) -> None:
        """Stored under a pseudonym, never the user id (P-ANA-2), and only while the
        participant has not objected to quality measurement. Guests cannot object, so their
        reports are not kept at all."""
        party = as_party(who)
        subject = DataSubject(user_id=party.actor.user_id if party.actor else None)
        if not await self._consent.may_process(subject, "service_quality"):
            await self.get(who, call_id)  # still 'not found' for a call that is not theirs
            return
        async with self._db.transaction() as uow:
            row, _parts = await self._access_txn(uow, party, call_id, may_join=False)
            pseudonym = keyed_digest(self._secret, f"quality:{row.id}:{party.key}")[:24]
            uow.session.add(
                Quality(
                    call_id=row.id,
                    pseudonym=pseudonym,
                    reported_at=self._clock.now(),
                    packet_loss_pct=report.packet_loss_pct,
                    jitter_ms=report.jitter_ms,
                    round_trip_ms=report.round_trip_ms,
                    bitrate_kbps=report.bitrate_kbps,
                    frames_decoded=report.frames_decoded,
                )
            )
            await uow.commit()

    def ice_servers(self, actor: Actor | GuestPass) -> list[dict[str, Any]]:
        """STUN as configured; TURN with a credential minted for this member or guest, valid
        for a while (coturn's shared-secret scheme: user = expiry:id, password = HMAC-SHA1)."""
        servers: list[dict[str, Any]] = []
        if self._settings.ice_stun_urls:
            servers.append({"urls": list(self._settings.ice_stun_urls)})
        secret = self._settings.turn_secret
        if self._settings.ice_turn_urls and secret is not None:
            expiry = int(self._clock.now().timestamp()) + self._settings.turn_credential_seconds
            who = actor.user_id if isinstance(actor, Actor) else "guest-" + actor.guest_id
            username = f"{expiry}:{who}"
            digest = hmac.new(
                secret.get_secret_value().encode(), username.encode(), hashlib.sha1
            ).digest()
            servers.append(
                {
                    "urls": list(self._settings.ice_turn_urls),
                    "username": username,
                    "credential": base64.b64encode(digest).decode(),
                }
            )
        return servers

    # -- ringing timeouts and legs that are gone ------------------------------------------

    async def expire_due(self) -> int:
        """Stops ringing that has run out of time and leaves legs whose connection is gone.
        Any process may do it; the write lock serialises."""
        async with self._db.transaction() as uow:
            due = await store.ringing_due(uow.session, self._clock.now())
        for call_id in due:
            await self._unattended(call_id, lambda _row, _parts: machine.Timeout(self._clock.now()))
        return len(due) + await self.leave_stale()

    async def leave_stale(self) -> int:
        """Leaves, with reason 'network', every active leg nobody has seen for the leg timeout,
        at the time it was last seen: a call left with fewer than two people ends then, so its
        duration is the time really spent talking."""
        stale = await self.liveness.stale()
        for part in stale:
            await self._unattended(
                part.call_id, functools.partial(self._lost, participant_key(part))
            )
        return len(stale)

    def _lost(self, key: str, row: Call, parts: list[Participant]) -> machine.Command | None:
        """The leg leaves when it was last seen, unless it was seen again meanwhile."""
        part = next(p for p in parts if participant_key(p) == key)
        seen = part.last_seen_at or part.joined_at or row.created_at
        if part.state not in ACTIVE_LEGS or as_utc(seen) >= self.liveness.cutoff():
            return None
        return machine.Hangup(key, gone_at(row, part), machine.Disconnect.NETWORK)

    async def _unattended(self, call_id: str, make: Unattended) -> None:
        """A step nobody asked for (ringing ran out, a leg is gone); skipped if it no longer
        applies to the call as it now stands."""
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            row = await store.call_by_id(uow.session, call_id)
            if row is None or row.state == machine.CallState.ENDED.value:
                return
            parts = await store.participants(uow.session, call_id)
            command = make(row, parts)
            if command is None:
                return
            try:
                call, signals = machine.step(to_machine(row, parts), command)
            except machine.InvalidTransition:
                return
            await self._write_txn(uow, row, parts, call, signals)
            await uow.commit()

    def start_sweeper(self) -> None:
        self._sweeper.start()

    async def stop_sweeper(self) -> None:
        await self._sweeper.stop()


async def _view_txn(uow: UnitOfWork, row: Call, parts: list[Participant]) -> CallView:
    people = [p.user_id for p in parts if p.user_id is not None]
    return CallView(row, parts, await store.gone_among(uow.session, people))
