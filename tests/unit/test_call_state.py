"""The call state machine, walked exhaustively for small casts, and its named scenarios."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from parlour.features.calls.state import (
    ACTIVE,
    WAITING,
    Accept,
    Call,
    CallState,
    Command,
    Decline,
    Disconnect,
    Hangup,
    InvalidTransition,
    Invite,
    Join,
    LegState,
    MediaUp,
    Outcome,
    Ringing,
    Signal,
    Timeout,
    can_relay,
    start,
    step,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PEOPLE = ("ann", "bob", "cat", "guest")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def invite(*callees: str, busy: frozenset[str] = frozenset()) -> tuple[Call, list[Signal]]:
    return start(Invite("c1", "ann", callees, "video", at(0), busy))


def commands(now: datetime) -> Iterator[Command]:
    for who in PEOPLE:
        yield Ringing(who, now)
        yield Accept(who, "phone", now)
        yield Accept(who, "laptop", now)
        yield Decline(who, now)
        yield Join(who, "laptop", now)
        yield MediaUp(who, now)
        yield Hangup(who, now)
        yield Hangup(who, now, Disconnect.NETWORK)
    yield Timeout(now)


def shape(call: Call) -> tuple[object, ...]:
    """A call without its times, so the walk visits each shape once."""
    return (
        call.state,
        call.outcome,
        call.connected_at is None,
        tuple((leg.participant, leg.state, leg.device) for leg in call.legs),
    )


def check_invariants(call: Call, signals: list[Signal]) -> None:
    names = {leg.participant for leg in call.legs}
    for signal in signals:
        assert set(signal.to) <= names, signal
    if call.state is CallState.ENDED:
        assert call.outcome is not None and call.ended_at is not None
        assert not [leg for leg in call.legs if leg.state in WAITING | ACTIVE]
        assert (call.outcome is Outcome.COMPLETED) == (call.connected_at is not None)
        assert call.duration_seconds >= 0
    else:
        assert call.outcome is None and call.ended_at is None
        talking = len(call.active_participants)
        ringing = any(leg.state in WAITING for leg in call.callees)
        caller_in = call.leg(call.caller).active
        if call.state is CallState.RINGING:
            assert caller_in and ringing, "a ringing call has its caller and someone to ring"
        else:
            assert talking >= 2 or (caller_in and ringing), "nobody left to talk to"
    if call.state is CallState.RINGING:
        assert call.answered_at is None
        assert not [leg for leg in call.callees if leg.active]
    if call.state is CallState.CONNECTED:
        assert call.connected_at is not None
    for leg in call.legs:
        if leg.active:
            assert leg.joined_at is not None
        if leg.state is LegState.LEFT:
            assert leg.left_at is not None and leg.disconnect is not None
    for a in PEOPLE:
        for b in PEOPLE:
            allowed = can_relay(call, a, b)
            assert allowed == can_relay(call, b, a)
            if allowed:
                assert call.state is not CallState.ENDED and a != b
                assert call.leg(a).active and call.leg(b).active


def walk(first: Call, signals: list[Signal], depth: int) -> dict[tuple[object, ...], Call]:
    seen = {shape(first): first}
    check_invariants(first, signals)
    queue = deque([(first, 0)])
    while queue:
        call, level = queue.popleft()
        if level == depth:
            continue
        for command in commands(at(10 * (level + 1))):
            try:
                after, out = step(call, command)
            except InvalidTransition:
                continue
            check_invariants(after, out)
            if shape(after) not in seen:
                seen[shape(after)] = after
                queue.append((after, level + 1))
    return seen


@pytest.mark.parametrize(
    ("callees", "busy"),
    [(("bob",), frozenset()), (("bob", "cat"), frozenset()), (("bob", "cat"), {"cat"})],
    ids=["one-to-one", "group", "group-one-busy"],
)
def test_every_reachable_state_keeps_the_invariants(
    callees: tuple[str, ...], busy: frozenset[str]
) -> None:
    call, signals = invite(*callees, busy=frozenset(busy))
    seen = walk(call, signals, depth=7)
    outcomes = {c.outcome for c in seen.values() if c.state is CallState.ENDED}
    assert outcomes >= {Outcome.COMPLETED, Outcome.MISSED, Outcome.CANCELLED, Outcome.FAILED}
    if len(callees) == 1:
        assert Outcome.DECLINED in outcomes
    assert len(seen) > 20


def test_an_ended_call_refuses_every_command() -> None:
    call, _ = invite("bob")
    call, _ = step(call, Decline("bob", at(3)))
    assert call.state is CallState.ENDED
    for command in commands(at(5)):
        with pytest.raises(InvalidTransition):
            step(call, command)


def test_answered_on_one_device_the_others_stop_ringing_and_the_call_connects() -> None:
    call, signals = invite("bob")
    assert [(s.to, s.type) for s in signals] == [(("bob",), "call.incoming")]
    call, signals = step(call, Ringing("bob", at(1)))
    assert [(s.to, s.type) for s in signals] == [(("ann",), "call.ringing")]
    call, signals = step(call, Accept("bob", "phone", at(4)))
    kinds = {(s.to, s.type, s.except_device) for s in signals}
    assert (("bob",), "call.answered_elsewhere", "phone") in kinds
    assert (("ann",), "call.accepted", None) in kinds
    assert call.state is CallState.ACCEPTED and call.answered_at == at(4)
    call, _ = step(call, MediaUp("ann", at(5)))
    assert call.state is CallState.ACCEPTED
    call, signals = step(call, MediaUp("bob", at(6)))
    assert call.state is CallState.CONNECTED and call.connected_at == at(6)
    assert signals[0].type == "call.connected"
    call, signals = step(call, Hangup("bob", at(48)))
    assert call.state is CallState.ENDED and call.outcome is Outcome.COMPLETED
    assert call.duration_seconds == 42
    assert call.leg("bob").disconnect is Disconnect.HANGUP
    assert call.leg("ann").disconnect is Disconnect.ENDED
    assert signals[-1].type == "call.ended" and set(signals[-1].to) == {"ann", "bob"}


@pytest.mark.parametrize(
    ("command", "outcome", "leg_state", "told"),
    [
        (Decline("bob", at(2)), Outcome.DECLINED, LegState.DECLINED, "call.ended"),
        (Hangup("bob", at(2)), Outcome.DECLINED, LegState.DECLINED, "call.ended"),
        (Timeout(at(30)), Outcome.MISSED, LegState.MISSED, "call.missed"),
        (Hangup("ann", at(2)), Outcome.CANCELLED, LegState.CANCELLED, "call.cancelled"),
    ],
    ids=["decline", "hang-up-while-ringing", "timeout", "caller-cancels"],
)
def test_unanswered_calls_end_with_the_right_outcome(
    command: Command, outcome: Outcome, leg_state: LegState, told: str
) -> None:
    call, _ = invite("bob")
    call, signals = step(call, command)
    assert call.outcome is outcome and call.leg("bob").state is leg_state
    assert told in {s.type for s in signals if "bob" in s.to}
    assert call.duration_seconds == 0


def test_a_busy_callee_ends_the_call_at_once() -> None:
    call, signals = invite("bob", busy=frozenset({"bob"}))
    assert call.outcome is Outcome.BUSY and call.leg("bob").state is LegState.BUSY
    assert "call.incoming" not in {s.type for s in signals}


def test_a_group_call_goes_on_while_others_ring_and_after_one_leaves() -> None:
    call, _ = invite("bob", "cat")
    call, _ = step(call, Accept("bob", "laptop", at(2)))
    call, _ = step(call, MediaUp("ann", at(3)))
    call, _ = step(call, MediaUp("bob", at(3)))
    assert not can_relay(call, "ann", "cat"), "a ringing leg receives no media signalling"
    call, signals = step(call, Timeout(at(30)))
    assert call.leg("cat").state is LegState.MISSED and call.state is CallState.CONNECTED
    assert [s.type for s in signals] == ["call.missed"]
    call, _ = step(call, Join("cat", "phone", at(40)))
    call, _ = step(call, MediaUp("cat", at(41)))
    assert can_relay(call, "ann", "cat")
    call, signals = step(call, Hangup("ann", at(50)))
    assert call.state is CallState.CONNECTED, "the caller leaving does not end a group call"
    assert ("call.left", ("bob", "cat")) in {(s.type, s.to) for s in signals}
    call, _ = step(call, Hangup("cat", at(60), Disconnect.NETWORK))
    assert call.outcome is Outcome.COMPLETED and call.duration_seconds == 57
    assert call.leg("cat").disconnect is Disconnect.NETWORK


def test_a_guest_joins_by_link_only_once_the_call_is_answered() -> None:
    call, _ = invite("bob")
    with pytest.raises(InvalidTransition):
        step(call, Join("guest", "browser", at(1)))
    call, _ = step(call, Accept("bob", "laptop", at(2)))
    call, signals = step(call, Join("guest", "browser", at(3)))
    assert call.leg("guest").state is LegState.ACCEPTED
    assert ("call.joined", ("ann", "bob")) in {(s.type, s.to) for s in signals}
    with pytest.raises(InvalidTransition):
        step(call, Join("guest", "other-tab", at(4)))


def test_answered_but_never_connected_ends_as_failed() -> None:
    call, _ = invite("bob")
    call, _ = step(call, Accept("bob", "laptop", at(2)))
    call, _ = step(call, Hangup("ann", at(20), Disconnect.NETWORK))
    assert call.outcome is Outcome.FAILED and call.duration_seconds == 0


def test_nobody_can_call_only_themselves() -> None:
    with pytest.raises(InvalidTransition):
        start(Invite("c1", "ann", ("ann",), "audio", at(0)))
