"""Calls: start, answer, decline, hang up, relay signalling, and keep the call detail record.

Every step loads the call, runs the pure state machine (`state.step`), writes the new state and
the record in the same transaction, and sends the machine's signals after commit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parlour.core.clock import Clock
from parlour.core.errors import AppError, ErrorCode, invalid, not_found
from parlour.core.ids import keyed_digest, new_id
from parlour.db.uow import Database, UnitOfWork
from parlour.features.accounts import store as accounts_store
from parlour.features.accounts.actor import Actor
from parlour.features.calls import state as machine
from parlour.features.calls import store
from parlour.features.calls.models import Call, Participant, Quality
from parlour.features.chat import store as chat_store
from parlour.features.chat.events import EventLog, device_channel, user_channel
from parlour.features.chat.service import ConversationService
from parlour.settings import Settings

log = logging.getLogger("parlour.calls")

SWEEP_SECONDS = 1.0
SIGNAL_KINDS = frozenset({"offer", "answer", "ice", "renegotiate"})


@dataclass(frozen=True)
class Endpoint:
    """What a client says about itself, kept in the call detail record (P-CALL-2)."""

    ip_address: str | None = None
    endpoint_type: str | None = "web"
    endpoint_version: str | None = None
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class QualityReport:
    packet_loss_pct: float | None
    jitter_ms: float | None
    round_trip_ms: float | None
    bitrate_kbps: float | None
    frames_decoded: int | None


@dataclass(frozen=True)
class CallView:
    call: Call
    participants: list[Participant]


Step = Callable[[machine.Call], machine.Command]


class CallService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        events: EventLog,
        conversations: ConversationService,
        settings: Settings,
        secret_key: bytes,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._conversations = conversations
        self._settings = settings
        self._secret = secret_key
        self._sweeper: asyncio.Task[None] | None = None

    # -- starting -------------------------------------------------------------------------

    async def start(
        self,
        actor: Actor,
        conversation_id: str,
        media: machine.Media,
        device_id: str,
        endpoint: Endpoint,
    ) -> CallView:
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
            self._check_size(len(callees) + 1)
            busy = await store.busy_among(uow.session, [actor.user_id, *callees])
            if actor.user_id in busy:
                raise AppError(ErrorCode.CALL_STATE, "You are already in a call. Hang up first.")
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
            )
            uow.session.add(row)
            parts = await self._new_participants_txn(uow, call, actor.user_id, endpoint)
            caller = next(p for p in parts if p.user_id == actor.user_id)
            caller.device_id = device_id
            view = await self._write_txn(uow, row, parts, call, signals)
            await uow.commit()
        return view

    def _check_size(self, size: int) -> None:
        if size > self._settings.call_mesh_limit:
            raise AppError(
                ErrorCode.CALL_TOO_LARGE,
                f"Calls of more than {self._settings.call_mesh_limit} people need an SFU, "
                "and none is configured on this server.",
            )

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
                _apply_endpoint(part, endpoint)
            uow.session.add(part)
            parts.append(part)
        await uow.session.flush()
        return parts

    # -- steps ----------------------------------------------------------------------------

    async def accept(
        self, actor: Actor, call_id: str, device_id: str, endpoint: Endpoint
    ) -> CallView:
        def command(call: machine.Call) -> machine.Command:
            leg_state = call.leg(actor.user_id).state if call.has(actor.user_id) else None
            if leg_state in machine.WAITING:
                return machine.Accept(actor.user_id, device_id, self._clock.now())
            return machine.Join(actor.user_id, device_id, self._clock.now())

        return await self._step(actor, call_id, command, endpoint, device_id, may_join=True)

    async def ringing(self, actor: Actor, call_id: str) -> CallView:
        return await self._step(
            actor, call_id, lambda _c: machine.Ringing(actor.user_id, self._clock.now())
        )

    async def decline(self, actor: Actor, call_id: str) -> CallView:
        return await self._step(
            actor, call_id, lambda _c: machine.Decline(actor.user_id, self._clock.now())
        )

    async def connected(self, actor: Actor, call_id: str) -> CallView:
        return await self._step(
            actor, call_id, lambda _c: machine.MediaUp(actor.user_id, self._clock.now())
        )

    async def hangup(
        self, actor: Actor, call_id: str, reason: machine.Disconnect = machine.Disconnect.HANGUP
    ) -> CallView:
        return await self._step(
            actor, call_id, lambda _c: machine.Hangup(actor.user_id, self._clock.now(), reason)
        )

    async def _step(
        self,
        actor: Actor,
        call_id: str,
        make: Step,
        endpoint: Endpoint | None = None,
        device_id: str | None = None,
        may_join: bool = False,
    ) -> CallView:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            row, parts = await self._access_txn(uow, actor, call_id, may_join)
            call = _to_machine(row, parts)
            try:
                call, signals = machine.step(call, make(call))
            except machine.InvalidTransition as exc:
                raise AppError(ErrorCode.CALL_STATE, f"Not now: {exc.reason}.") from exc
            if not any(p.user_id == actor.user_id for p in parts):
                parts.append(await self._joiner_txn(uow, row, actor))
            mine = next(p for p in parts if p.user_id == actor.user_id)
            if endpoint is not None:
                _apply_endpoint(mine, endpoint)
            if device_id is not None:
                mine.device_id = device_id
            self._check_size(len(call.active_participants))
            view = await self._write_txn(uow, row, parts, call, signals)
            await uow.commit()
        return view

    async def _access_txn(
        self, uow: UnitOfWork, actor: Actor, call_id: str, may_join: bool
    ) -> tuple[Call, list[Participant]]:
        """A call is reachable by its participants, and (to join) by its conversation's
        current members; anyone else gets 'not found'."""
        row = await store.call_by_id(uow.session, call_id)
        if row is None or row.org_id != actor.org_id:
            raise not_found("call")
        parts = await store.participants(uow.session, call_id)
        if any(p.user_id == actor.user_id for p in parts):
            return row, parts
        if may_join and row.conversation_id is not None:
            await self._conversations.access_txn(uow.session, actor, row.conversation_id)
            return row, parts
        raise not_found("call")

    async def _joiner_txn(self, uow: UnitOfWork, row: Call, actor: Actor) -> Participant:
        user = await accounts_store.user_by_id(uow.session, actor.user_id)
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
        by_key = {p.user_id: p for p in parts}
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
        return CallView(row, parts)

    async def _send(self, signals: list[machine.Signal], state: dict[str, Any]) -> None:
        for signal in signals:
            wire: dict[str, Any] = {"type": signal.type, "data": {**signal.data, "call": state}}
            if signal.except_device:
                wire["except_device"] = signal.except_device
            channels = [user_channel(u) for u in signal.to]
            await self._events.publish_to(wire, channels)

    # -- media signalling -----------------------------------------------------------------

    async def relay(
        self,
        actor: Actor,
        device_id: str,
        call_id: str,
        to: str,
        kind: str,
        data: dict[str, Any],
    ) -> None:
        """Passes an offer, answer or ICE candidate to the device that holds the other leg."""
        if kind not in SIGNAL_KINDS:
            raise invalid("kind", "One of: " + ", ".join(sorted(SIGNAL_KINDS)) + ".")
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, actor, call_id, may_join=False)
        call = _to_machine(row, parts)
        mine = call.leg(actor.user_id)
        if not machine.can_relay(call, actor.user_id, to) or mine.device != device_id:
            raise AppError(ErrorCode.CALL_STATE, "Signalling passes only between active legs.")
        target = call.leg(to).device
        if target is None:
            raise AppError(ErrorCode.CALL_STATE, "That participant has no device in the call.")
        wire = {
            "type": "call.signal",
            "data": {"call_id": call_id, "from": actor.user_id, "kind": kind, "payload": data},
        }
        await self._events.publish_to(wire, [device_channel(target)])

    # -- record, history, quality ---------------------------------------------------------

    async def get(self, actor: Actor, call_id: str) -> CallView:
        async with self._db.transaction() as uow:
            row, parts = await self._access_txn(uow, actor, call_id, may_join=True)
        return CallView(row, parts)

    async def history(
        self, actor: Actor, conversation_id: str | None, before: datetime | None, limit: int
    ) -> list[CallView]:
        async with self._db.transaction() as uow:
            if conversation_id is not None:
                await self._conversations.access_txn(uow.session, actor, conversation_id)
            rows = await store.calls_of(uow.session, actor.user_id, conversation_id, before, limit)
            return [CallView(r, await store.participants(uow.session, r.id)) for r in rows]

    async def report_quality(self, actor: Actor, call_id: str, report: QualityReport) -> None:
        """Stored under a pseudonym, never the user id (P-ANA-2)."""
        async with self._db.transaction() as uow:
            row, _parts = await self._access_txn(uow, actor, call_id, may_join=False)
            pseudonym = keyed_digest(self._secret, f"quality:{row.id}:{actor.user_id}")[:24]
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

    def ice_servers(self, actor: Actor) -> list[dict[str, Any]]:
        """STUN as configured; TURN with a credential minted for this user, valid for a while
        (coturn's shared-secret scheme: user = expiry:id, password = HMAC-SHA1 of it)."""
        servers: list[dict[str, Any]] = []
        if self._settings.ice_stun_urls:
            servers.append({"urls": list(self._settings.ice_stun_urls)})
        secret = self._settings.turn_secret
        if self._settings.ice_turn_urls and secret is not None:
            expiry = int(self._clock.now().timestamp()) + self._settings.turn_credential_seconds
            username = f"{expiry}:{actor.user_id}"
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

    # -- ringing timeouts -----------------------------------------------------------------

    async def expire_due(self) -> int:
        """Stops ringing that has run out of time. Any node may do it; the lock serialises."""
        async with self._db.transaction() as uow:
            due = await store.ringing_due(uow.session, self._clock.now())
        for call_id in due:
            await self._timeout(call_id)
        return len(due)

    async def _timeout(self, call_id: str) -> None:
        async with self._db.transaction() as uow:
            await uow.serialize_writes()
            row = await store.call_by_id(uow.session, call_id)
            if row is None or row.state == machine.CallState.ENDED.value:
                return
            parts = await store.participants(uow.session, call_id)
            try:
                call, signals = machine.step(
                    _to_machine(row, parts), machine.Timeout(self._clock.now())
                )
            except machine.InvalidTransition:
                return
            await self._write_txn(uow, row, parts, call, signals)
            await uow.commit()

    def start_sweeper(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="parlour-call-sweeper")

    async def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.expire_due()
            except Exception:
                log.exception("call sweep failed", extra={"event": "calls.sweep_error"})


def _apply_endpoint(part: Participant, endpoint: Endpoint) -> None:
    part.ip_address = endpoint.ip_address
    part.endpoint_type = endpoint.endpoint_type
    part.endpoint_version = endpoint.endpoint_version
    part.device = endpoint.device
    part.os = endpoint.os
    part.browser = endpoint.browser
    part.language = endpoint.language


def _to_machine(row: Call, parts: list[Participant]) -> machine.Call:
    legs = tuple(
        machine.Leg(
            participant=p.user_id or f"guest:{p.guest_id}",
            state=machine.LegState(p.state),
            device=p.device_id if p.state in _HOLDING else None,
            joined_at=p.joined_at,
            left_at=p.left_at,
            disconnect=machine.Disconnect(p.disconnect) if p.disconnect else None,
        )
        for p in parts
    )
    return machine.Call(
        id=row.id,
        caller=row.caller_id or "",
        media="video" if row.media == "video" else "audio",
        state=machine.CallState(row.state),
        legs=legs,
        created_at=row.created_at,
        answered_at=row.answered_at,
        connected_at=row.connected_at,
        ended_at=row.ended_at,
        outcome=machine.Outcome(row.outcome) if row.outcome else None,
    )


_HOLDING = frozenset(
    {machine.LegState.ACCEPTED.value, machine.LegState.CONNECTED.value, machine.LegState.LEFT.value}
)


def call_summary(row: Call) -> dict[str, Any]:
    return {
        "call_id": row.id,
        "caller_id": row.caller_id,
        "media": row.media,
        "outcome": row.outcome,
        "duration_seconds": round(row.duration_seconds, 1),
        "participants": row.participants,
    }


def call_wire(row: Call, parts: list[Participant]) -> dict[str, Any]:
    """What participants see of a call: never addresses or device facts of the others."""
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "caller_id": row.caller_id,
        "media": row.media,
        "state": row.state,
        "outcome": row.outcome,
        "created_at": row.created_at.isoformat(),
        "connected_at": row.connected_at.isoformat() if row.connected_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "duration_seconds": round(row.duration_seconds, 1),
        "participants": [
            {
                "user_id": p.user_id,
                "display_name": p.display_name,
                "role": p.role,
                "state": p.state,
            }
            for p in parts
        ],
    }
