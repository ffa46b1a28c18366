"""How a person is shown to others, with one rule for accounts that are gone.

An account is closed when its owner asks for erasure (or an admin finds it is a child's): it
waits for the erasure job, for a day or for as long as a legal hold lasts. Erasure then
replaces it with a tombstone account. Both are shown the same way everywhere, in the API and
on every page: under the label below, with nothing else about the person.

The label of a closed account is made from its own id, which the people who see it know
already; the tombstone gets a new random id, so nothing links the two.
"""

from __future__ import annotations

from parlour.features.accounts.models import CLOSED, ERASED, GONE, User
from parlour.features.accounts.schemas import UserOut

__all__ = ["CLOSED", "ERASED", "GONE", "deleted_label", "is_gone", "shown_name", "user_out"]
# What the API says of a closed or erased account's status: which of the two it is would tell
# colleagues about a legal hold that keeps a closed account past its day.
DELETED = "deleted"


def deleted_label(user_id: str) -> str:
    """The one name of a closed or erased account, such as "Deleted user 7f3a"."""
    return f"Deleted user {user_id[:4]}"


def is_gone(user: User) -> bool:
    return user.status in GONE


def shown_name(user: User) -> str:
    return deleted_label(user.id) if is_gone(user) else user.name


def user_out(user: User) -> UserOut:
    """A user on the wire; a closed or erased one as its label and nothing personal."""
    if is_gone(user):
        return UserOut(
            id=user.id,
            org_id=user.org_id,
            name=deleted_label(user.id),
            email=None,
            role="member",
            status=DELETED,
            is_instance_owner=False,
            phone=None,
            title=None,
            department=None,
            location=None,
            has_avatar=False,
            created_at=None,
        )
    return UserOut(
        id=user.id,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        role=user.role,
        status=user.status,
        is_instance_owner=user.is_instance_owner,
        phone=user.phone,
        title=user.title,
        department=user.department,
        location=user.location,
        has_avatar=user.avatar_key is not None,
        created_at=user.created_at,
    )
