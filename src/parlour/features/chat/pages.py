"""The chat pages: one HTML shell; the browser app in static/chat/ does the rest."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from parlour.core.errors import AppError, ErrorCode
from parlour.features.chat.messages import MAX_CHARS
from parlour.web.auth import get_container
from parlour.web.pages import render, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/chat")
async def chat_home(request: Request) -> Response:
    return await _chat_page(request, None)


@router.get("/chat/{conversation_id}")
async def chat_conversation(request: Request, conversation_id: str) -> Response:
    return await _chat_page(request, conversation_id)


async def _chat_page(request: Request, conversation_id: str | None) -> Response:
    """Signed-out visitors are sent to sign in; a conversation that is not theirs is a 404."""
    actor = await signed_in(request)
    if actor is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "Sign in to chat.")
    if conversation_id is not None:
        await get_container(request).conversations.view(actor, conversation_id)
    return await render(
        request, "chat/index.html", conversation_id=conversation_id or "", max_chars=MAX_CHARS
    )
