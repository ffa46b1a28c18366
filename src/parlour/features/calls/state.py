"""The call state machine: pure data in, pure data out, no I/O.

`step(call, command)` returns the next call and the signals to send. The service persists the
result (and the call detail record) in one transaction and sends the signals after commit.
A call has one leg per participant; each callee's devices ring until one of them answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

Media = Literal["audio", "video"]


class CallState(StrEnum):
    RINGING = "ringing"  # invited; nobody has answered yet
    ACCEPTED = "accepted"  # someone answered; media is being set up
    CONNECTED = "connected"  # media flowed on at least two legs
    ENDED = "ended"


class Outcome(StrEnum):
    COMPLETED = "completed"  # it connected, then everyone hung up
    DECLINED = "declined"
    BUSY = "busy"
    MISSED = "missed"
    CANCELLED = "cancelled"
    FAILED = "failed"  # answered but media never connected


class LegState(StrEnum):
    INVITED = "invited"
    RINGING = "ringing"
    ACCEPTED = "accepted"
    CONNECTED = "connected"
    DECLINED = "declined"
    BUSY = "busy"
    MISSED = "missed"
    CANCELLED = "cancelled"
    LEFT = "left"


WAITING = frozenset({LegState.INVITED, LegState.RINGING})
ACTIVE = frozenset({LegState.ACCEPTED, LegState.CONNECTED})


class Disconnect(StrEnum):
    """How a participant left: kept in the call detail record."""

    HANGUP = "hangup"
    NETWORK = "network"  # the connection dropped and did not come back
    ENDED = "ended"  # the call ended around them
    REMOVED = "removed"


class InvalidTransition(Exception):
    """The command does not apply to the call in its present state."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Leg:
    participant: str
    state: LegState
    device: str | None = None  # the device that answered
    joined_at: datetime | None = None
    left_at: datetime | None = None
    disconnect: Disconnect | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class Call:
    id: str
    caller: str
    media: Media
    state: CallState
    legs: tuple[Leg, ...]
    created_at: datetime
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Outcome | None = None

    def leg(self, participant: str) -> Leg:
        for leg in self.legs:
            if leg.participant == participant:
                return leg
        raise InvalidTransition(f"{participant} is not part of this call")

    def has(self, participant: str) -> bool:
        return any(leg.participant == participant for leg in self.legs)

    @property
    def callees(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.participant != self.caller)

    @property
    def active_participants(self) -> tuple[str, ...]:
        return tuple(leg.participant for leg in self.legs if leg.active)

    @property
    def duration_seconds(self) -> float:
        """Talk time: from media first connecting until the end (0 if it never connected)."""
        if self.connected_at is None or self.ended_at is None:
            return 0.0
        return (self.ended_at - self.connected_at).total_seconds()


@dataclass(frozen=True)
class Signal:
    """A frame to send after commit, to every open device of each recipient."""

    to: tuple[str, ...]
    type: str
    data: dict[str, object] = field(default_factory=dict)
    except_device: str | None = None


# Commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invite:
    call_id: str
    caller: str
    callees: tuple[str, ...]
    media: Media
    at: datetime
    busy: frozenset[str] = frozenset()  # callees already in another call


@dataclass(frozen=True)
class Ringing:
    participant: str
    at: datetime


@dataclass(frozen=True)
class Accept:
    participant: str
    device: str
    at: datetime


@dataclass(frozen=True)
class Decline:
    participant: str
    at: datetime


@dataclass(frozen=True)
class Join:
    """Someone joins a call already under way (a guest by link, a late group member)."""

    participant: str
    device: str
    at: datetime


@dataclass(frozen=True)
class MediaUp:
    """A participant's media is flowing (the client saw its peer connection connect)."""

    participant: str
    at: datetime


@dataclass(frozen=True)
class Hangup:
    participant: str
    at: datetime
    reason: Disconnect = Disconnect.HANGUP


@dataclass(frozen=True)
class Timeout:
    """Ringing ran out of time: every device still ringing stops."""

    at: datetime


Command = Invite | Ringing | Accept | Decline | Join | MediaUp | Hangup | Timeout


# Transitions ----------------------------------------------------------------------------


def start(command: Invite) -> tuple[Call, list[Signal]]:
    callees = tuple(dict.fromkeys(c for c in command.callees if c != command.caller))
    if not callees:
        raise InvalidTransition("a call needs someone to call")
    caller = Leg(command.caller, LegState.ACCEPTED, joined_at=command.at)
    legs = (
        caller,
        *(Leg(c, LegState.BUSY if c in command.busy else LegState.INVITED) for c in callees),
    )
    call = Call(command.call_id, command.caller, command.media, CallState.RINGING, legs, command.at)
    summary: dict[str, object] = {"call_id": call.id, "caller": call.caller, "media": call.media}
    ring_to = tuple(leg.participant for leg in legs if leg.state is LegState.INVITED)
    signals = [Signal(ring_to, "call.incoming", summary)] if ring_to else []
    call, more = _settle(call, command.at)
    return call, signals + more


def step(call: Call, command: Command) -> tuple[Call, list[Signal]]:
    """The next state of `call` after `command`, and what to tell whom."""
    if call.state is CallState.ENDED:
        raise InvalidTransition("the call has ended")
    call, signals = _dispatch(call, command)
    call, more = _settle(call, command.at)
    return call, signals + more


def can_relay(call: Call, sender: str, recipient: str) -> bool:
    """Offers, answers and ICE candidates pass only between two active legs of one call."""
    if call.state is CallState.ENDED or sender == recipient:
        return False
    return (
        call.has(sender)
        and call.has(recipient)
        and call.leg(sender).active
        and (call.leg(recipient).active)
    )


def _set_leg(call: Call, leg: Leg) -> Call:
    legs = tuple(leg if old.participant == leg.participant else old for old in call.legs)
    return replace(call, legs=legs)


def _ringing(call: Call, command: Ringing) -> tuple[Call, list[Signal]]:
    leg = call.leg(command.participant)
    if leg.state is LegState.RINGING:
        return call, []
    if leg.state is not LegState.INVITED:
        raise InvalidTransition(f"{leg.participant} is {leg.state}, not invited")
    call = _set_leg(call, replace(leg, state=LegState.RINGING))
    return call, [
        Signal((call.caller,), "call.ringing", {"call_id": call.id, "by": leg.participant})
    ]


def _accept(call: Call, command: Accept) -> tuple[Call, list[Signal]]:
    leg = call.leg(command.participant)
    if leg.state not in WAITING:
        raise InvalidTransition(f"{leg.participant} is {leg.state} and cannot answer")
    leg = replace(leg, state=LegState.ACCEPTED, device=command.device, joined_at=command.at)
    call = _set_leg(call, leg)
    if call.state is CallState.RINGING:
        call = replace(call, state=CallState.ACCEPTED, answered_at=command.at)
    data: dict[str, object] = {"call_id": call.id, "by": leg.participant}
    return call, [
        Signal((leg.participant,), "call.answered_elsewhere", data, except_device=command.device),
        Signal(_others(call, leg.participant), "call.accepted", data),
    ]


def _decline(call: Call, command: Decline) -> tuple[Call, list[Signal]]:
    leg = call.leg(command.participant)
    if leg.state not in WAITING:
        raise InvalidTransition(f"{leg.participant} is {leg.state} and cannot decline")
    call = _set_leg(call, replace(leg, state=LegState.DECLINED, left_at=command.at))
    data: dict[str, object] = {"call_id": call.id, "by": leg.participant}
    return call, [
        Signal((leg.participant,), "call.stop_ringing", data),
        Signal(_active_others(call, leg.participant), "call.declined", data),
    ]


def _join(call: Call, command: Join) -> tuple[Call, list[Signal]]:
    if call.state is CallState.RINGING:
        raise InvalidTransition("nobody has answered yet")
    if call.has(command.participant):
        leg = call.leg(command.participant)
        if leg.active:
            raise InvalidTransition(f"{leg.participant} is already in the call")
        if leg.state in WAITING:
            return _accept(call, Accept(command.participant, command.device, command.at))
    leg = Leg(command.participant, LegState.ACCEPTED, device=command.device, joined_at=command.at)
    legs = (*(old for old in call.legs if old.participant != leg.participant), leg)
    call = replace(call, legs=legs)
    data: dict[str, object] = {"call_id": call.id, "by": leg.participant}
    return call, [Signal(_active_others(call, leg.participant), "call.joined", data)]


def _media_up(call: Call, command: MediaUp) -> tuple[Call, list[Signal]]:
    leg = call.leg(command.participant)
    if leg.state is LegState.CONNECTED:
        return call, []
    if leg.state is not LegState.ACCEPTED:
        raise InvalidTransition(f"{leg.participant} is {leg.state}, not in the call")
    call = _set_leg(call, replace(leg, state=LegState.CONNECTED))
    connected = [leg for leg in call.legs if leg.state is LegState.CONNECTED]
    if call.connected_at is None and len(connected) >= 2:
        call = replace(call, state=CallState.CONNECTED, connected_at=command.at)
        return call, [Signal(call.active_participants, "call.connected", {"call_id": call.id})]
    return call, []


def _hangup(call: Call, command: Hangup) -> tuple[Call, list[Signal]]:
    leg = call.leg(command.participant)
    if leg.participant == call.caller and call.state is CallState.RINGING:
        return _cancel(call, command.at)
    if leg.state in WAITING:
        return _decline(call, Decline(leg.participant, command.at))
    if not leg.active:
        raise InvalidTransition(f"{leg.participant} is {leg.state}, not in the call")
    leg = replace(leg, state=LegState.LEFT, left_at=command.at, disconnect=command.reason)
    call = _set_leg(call, leg)
    data: dict[str, object] = {"call_id": call.id, "by": leg.participant}
    return call, [Signal(_active_others(call, leg.participant), "call.left", data)]


def _cancel(call: Call, at: datetime) -> tuple[Call, list[Signal]]:
    waiting = tuple(leg.participant for leg in call.legs if leg.state in WAITING)
    for name in waiting:
        call = _set_leg(call, replace(call.leg(name), state=LegState.CANCELLED, left_at=at))
    caller = replace(
        call.leg(call.caller), state=LegState.LEFT, left_at=at, disconnect=Disconnect.HANGUP
    )
    call = _end(_set_leg(call, caller), at, Outcome.CANCELLED)
    return call, [Signal(waiting, "call.cancelled", {"call_id": call.id})] if waiting else []


def _timeout(call: Call, command: Timeout) -> tuple[Call, list[Signal]]:
    waiting = tuple(leg.participant for leg in call.legs if leg.state in WAITING)
    if not waiting:
        raise InvalidTransition("nobody is ringing")
    for name in waiting:
        leg = call.leg(name)
        call = _set_leg(call, replace(leg, state=LegState.MISSED, left_at=command.at))
    return call, [Signal(waiting, "call.missed", {"call_id": call.id})]


def _settle(call: Call, at: datetime) -> tuple[Call, list[Signal]]:
    """Ends the call when nobody could still talk to anyone; names the outcome."""
    if call.state is CallState.ENDED:
        return call, []
    callees = call.callees
    if call.state is CallState.RINGING and not any(leg.state in WAITING for leg in callees):
        return _finish_unanswered(call, at)
    if call.state is not CallState.RINGING and len(call.active_participants) < 2:
        if any(leg.state in WAITING for leg in callees) and call.leg(call.caller).active:
            return call, []  # a group call still ringing others
        outcome = Outcome.COMPLETED if call.connected_at else Outcome.FAILED
        return _finish(call, at, outcome)
    return call, []


def _finish_unanswered(call: Call, at: datetime) -> tuple[Call, list[Signal]]:
    states = {leg.state for leg in call.callees}
    if states == {LegState.BUSY}:
        outcome = Outcome.BUSY
    elif LegState.MISSED in states:
        outcome = Outcome.MISSED
    else:
        outcome = Outcome.DECLINED
    return _finish(call, at, outcome)


def _finish(call: Call, at: datetime, outcome: Outcome) -> tuple[Call, list[Signal]]:
    remaining = call.active_participants
    for name in remaining:
        leg = call.leg(name)
        call = _set_leg(
            call, replace(leg, state=LegState.LEFT, left_at=at, disconnect=Disconnect.ENDED)
        )
    for leg in call.legs:
        if leg.state in WAITING:
            call = _set_leg(call, replace(leg, state=LegState.CANCELLED, left_at=at))
    call = _end(call, at, outcome)
    everyone = tuple(leg.participant for leg in call.legs)
    return call, [Signal(everyone, "call.ended", {"call_id": call.id, "outcome": outcome.value})]


def _end(call: Call, at: datetime, outcome: Outcome) -> Call:
    return replace(call, state=CallState.ENDED, ended_at=at, outcome=outcome)


def _others(call: Call, participant: str) -> tuple[str, ...]:
    return tuple(leg.participant for leg in call.legs if leg.participant != participant)


def _active_others(call: Call, participant: str) -> tuple[str, ...]:
    return tuple(p for p in call.active_participants if p != participant)


def _dispatch(call: Call, command: Command) -> tuple[Call, list[Signal]]:
    match command:
        case Ringing():
            return _ringing(call, command)
        case Accept():
            return _accept(call, command)
        case Decline():
            return _decline(call, command)
        case Join():
            return _join(call, command)
        case MediaUp():
            return _media_up(call, command)
        case Hangup():
            return _hangup(call, command)
        case Timeout():
            return _timeout(call, command)
        case Invite():
            raise InvalidTransition("the call already exists")
