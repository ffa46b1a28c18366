"""The life of a tracked privacy request: its kinds, its states, and the allowed moves."""

from __future__ import annotations

from enum import StrEnum

from parlour.core.errors import AppError, ErrorCode


class Kind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"
    QUESTION = "question"


class State(StrEnum):
    RECEIVED = "received"  # the form was sent; the email is not verified yet
    VERIFIED = "verified"  # the code came back: the 15 days start
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.VERIFIED, State.WITHDRAWN}),
    State.VERIFIED: frozenset({State.IN_PROGRESS, State.ANSWERED, State.REFUSED, State.WITHDRAWN}),
    State.IN_PROGRESS: frozenset({State.ANSWERED, State.REFUSED, State.WITHDRAWN}),
    State.ANSWERED: frozenset(),
    State.REFUSED: frozenset(),
    State.WITHDRAWN: frozenset(),
}
OPEN = frozenset({State.VERIFIED, State.IN_PROGRESS})
CLOSED = frozenset(s for s, moves in TRANSITIONS.items() if not moves)
# Closing states that carry an answer mailed to the requester.
ANSWERING = frozenset({State.ANSWERED, State.REFUSED})


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: State, target: State) -> None:
    if not can_move(current, target):
        raise AppError(
            ErrorCode.REQUEST_STATE,
            f"A request that is {current.value} cannot become {target.value}.",
            data={"state": current.value},
        )
