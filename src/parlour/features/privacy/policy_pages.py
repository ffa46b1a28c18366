"""The privacy policy page, and the banner on every page until a material change is accepted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Match

from parlour.core.datamap import PURPOSES
from parlour.core.errors import AppError, ErrorCode
from parlour.features.accounts.actor import Actor
from parlour.features.privacy.policy_document import ERASURE_TEXT, LINKABLE
from parlour.features.privacy.policy_schemas import PolicyDocument
from parlour.web.auth import get_container
from parlour.web.pages import redirect, render, signed_in

router = APIRouter(include_in_schema=False)


def serves(app: FastAPI, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def page_paths(app: FastAPI) -> frozenset[str]:
    """The pages the policy may link to that this app serves: it never links to a missing one."""
    return frozenset(path for path in LINKABLE if serves(app, path))


def policy_document(request: Request) -> PolicyDocument:
    return get_container(request).policy.document(page_paths(request.app))


@router.get("/privacy/policy")
@router.get("/policy")
async def policy_page(request: Request) -> Response:
    return await render(
        request,
        "privacy/policy.html",
        doc=policy_document(request),
        erasure_text={rule.value: text for rule, text in ERASURE_TEXT.items()},
        purpose_names={key: p.name for key, p in PURPOSES.items()},
    )


@router.post("/privacy/policy/accept")
async def accept_policy(request: Request) -> Response:
    actor = await signed_in(request)
    if actor is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in to accept the privacy policy.")
    form = await request.form()
    await get_container(request).policy.accept(actor, str(form.get("version", "")), "prompt")
    return redirect(_local(str(form.get("next", "/"))))


def _local(path: str) -> str:
    """Only a path on this site: never another host."""
    if path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return "/"


async def policy_notice(request: Request, actor: Actor | None) -> dict[str, Any]:
    """Adds the banner to every page of a signed-in person with a change to accept."""
    if actor is None:
        return {}
    return {"policy_notice": await get_container(request).policy.pending(actor.user_id)}


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.state.page_hooks = [*getattr(app.state, "page_hooks", []), policy_notice]
