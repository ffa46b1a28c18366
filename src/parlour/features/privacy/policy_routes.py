"""JSON API of the privacy policy: the generated document, and accepting a new version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from parlour.container import Container
from parlour.features.accounts.actor import Actor
from parlour.features.privacy.policy_pages import page_paths
from parlour.features.privacy.policy_schemas import PolicyDocument
from parlour.web.auth import current_actor, get_container

router = APIRouter(prefix="/api/v1", tags=["privacy"])
Ctr = Annotated[Container, Depends(get_container)]
Me = Annotated[Actor, Depends(current_actor)]


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=32, description="The current version.")


class MyPolicyOut(BaseModel):
    current: str
    accepted: bool = Field(description="False while a material change waits for you.")


@router.get("/policy", response_model=PolicyDocument)
async def policy(request: Request, c: Ctr) -> PolicyDocument:
    """The privacy policy, generated from the data map, purposes and settings."""
    return c.policy.document(page_paths(request.app))


@router.get("/me/policy", response_model=MyPolicyOut)
async def my_policy(me: Me, c: Ctr) -> MyPolicyOut:
    pending = await c.policy.pending(me.user_id)
    return MyPolicyOut(current=c.policy.current().version, accepted=pending is None)


@router.post("/me/policy/accept", response_model=MyPolicyOut)
async def accept(body: AcceptIn, me: Me, c: Ctr) -> MyPolicyOut:
    accepted = await c.policy.accept(me, body.version, "api")
    return MyPolicyOut(current=accepted.version, accepted=True)
