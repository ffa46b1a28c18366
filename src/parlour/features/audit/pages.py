"""The audit log page for an organisation's owners and admins (P-ADM-2), read-only.

It calls the service the JSON route calls (`AuditLog.org_page`: the admins of the organisation,
'not found' for everyone else), newest first, 50 entries a page. Reading the log writes no
entry, and this page writes none either: the names of the people in it come from
`OrgService.get_member`, one person at a time, which records nothing. Only the name is shown,
as any colleague sees it ("Deleted user 7f3a" for an account that is closed or erased).

The check of the hash chain walks the instance's whole log, so it runs only when asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.container import Container
from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.accounts.display import shown_name
from parlour.web.auth import get_container
from parlour.web.forms import signin_first
from parlour.web.pages import render, signed_in

router = APIRouter(include_in_schema=False)

PAGE = "/org/privacy/audit"
TEMPLATE = "orgs/audit.html"
# What each recorded action means, in words; an unknown action is shown by its code alone.
ACTIONS = {
    "member.list": "Listed the members",  # no longer written; older logs hold it
    "profile.read": "Opened a profile",
    "member.role_change": "Changed a role",
    "member.suspend": "Suspended a member",
    "member.reactivate": "Reactivated a member",
    "member.password_reset": "Forced a password reset",
    "member.child": "Marked an account as a child's",
    "hold.place": "Placed a legal hold",
    "hold.lift": "Lifted a legal hold",
    "usage.read": "Read message usage",
    "request.open": "Sent a privacy request",
    "request.verify": "Confirmed a privacy request",
    "request.list": "Listed privacy requests",
    "request.view": "Opened a privacy request",
    "request.in_progress": "Marked a request in progress",
    "request.withdrawn": "Marked a request withdrawn",
    "request.answered": "Answered a privacy request",
    "request.refused": "Refused a privacy request",
    "request.remind": "Reminded the handlers of a request",
    "api_key.create": "Made an API key",
    "api_key.revoke": "Revoked an API key",
    "api_key.used": "Used its API key (this minute)",
    "api_key.refused": "Was refused with its API key (this minute)",
    "sso.configure": "Set up sign-in through the identity provider",
    "sso.remove": "Removed the identity provider",
    "sso.link": "Linked an identity provider to an account",
    "sso.account_created": "Made an account through the identity provider",
    "sso.unlink": "Unlinked an identity provider",
    "sso.refused": "Refused a sign-in through the identity provider",
    "mfa.totp_enabled": "Turned on an authenticator app",
    "mfa.totp_disabled": "Turned off the authenticator app",
    "mfa.recovery_codes_issued": "Got new recovery codes",
    "mfa.recovery_code_used": "Signed in with a recovery code",
    "mfa.passkey_added": "Added a passkey",
    "mfa.passkey_removed": "Removed a passkey",
    "mfa.passkey_used": "Signed in with a passkey",
    "mfa.second_factor_refused": "Gave a wrong second factor at sign-in",
    "org.second_factor_required": "Required two-factor sign-in",
    "org.second_factor_optional": "Stopped requiring two-factor sign-in",
}
AN_OWNER = "An owner"
# Doers without an account.
NOBODY = {
    "system": "Parlour (a background job)",
    "operator": "The operator (command line)",
    "requester": "The requester",
    "visitor": "A visitor who was not signed in",
}


def in_a_sentence(name: str | None) -> str | None:
    """A name from `display_names` for the middle of a sentence."""
    return "you" if name == "You" else "an owner" if name == AN_OWNER else name


async def display_names(c: Container, actor: Actor, ids: Iterable[str | None]) -> dict[str, str]:
    """The names of members of the actor's organisation, without recording a read of them.

    An owner seen by an admin (whom the service does not let admins manage) is "an owner";
    someone who is no longer a member is left out, and the page shows the start of the id.
    """
    names: dict[str, str] = {}
    for user_id in dict.fromkeys(i for i in ids if i):
        if user_id == actor.user_id:
            names[user_id] = "You"
            continue
        try:
            names[user_id] = shown_name(await c.orgs.get_member(actor, actor.org_id, user_id))
        except AppError as error:
            if error.code is ErrorCode.FORBIDDEN:  # only an owner is out of an admin's reach
                names[user_id] = AN_OWNER
    return names


@router.get(PAGE)
async def audit_page(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return signin_first(request)
    c = get_container(request)
    cursor = request.query_params.get("cursor") or None
    page = await c.audit.org_page(actor, actor.org_id, cursor)  # 'not found' unless an admin
    entries = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor_id": e.actor_id,
            "actor_role": e.actor_role,
            "action": e.action,
            "subject": e.subject_user_id,
            "fields": json.loads(e.fields),
            "request_id": e.request_id,
        }
        for e in page.entries
    ]
    people = [e.actor_id for e in page.entries] + [e.subject_user_id for e in page.entries]
    context: dict[str, Any] = {
        "entries": entries,
        "names": await display_names(c, actor, people),
        "actions": ACTIONS,
        "nobody": NOBODY,
        "an_owner": AN_OWNER,
        "next_cursor": page.next_cursor,
        "cursor": cursor,
        "verified": await c.audit.verify() if request.query_params.get("check") else None,
    }
    return await render(request, TEMPLATE, **context)
