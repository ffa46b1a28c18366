"""Wire schemas of calls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parlour.features.accounts.schemas import Input

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class ClientFacts(Input):
    """What the client tells about itself, for the call detail record."""

    endpoint_version: Short | None = None
    device: Short | None = None
    os: Short | None = None
    browser: Short | None = None
    language: Annotated[str, StringConstraints(max_length=35)] | None = None


class CallIn(Input):
    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    media: Literal["audio", "video"] = "video"
    device_id: DeviceId = Field(description="The stream connection's device id (from hello).")
    client: ClientFacts = Field(default_factory=ClientFacts)


class AnswerIn(Input):
    device_id: DeviceId
    client: ClientFacts = Field(default_factory=ClientFacts)


class DeviceIn(Input):
    device_id: DeviceId = Field(description="The page's new stream connection (from hello).")


class HangupIn(Input):
    reason: Literal["hangup", "network"] = "hangup"


class QualityIn(Input):
    packet_loss_pct: float | None = Field(default=None, ge=0, le=100)
    jitter_ms: float | None = Field(default=None, ge=0, le=60_000)
    round_trip_ms: float | None = Field(default=None, ge=0, le=60_000)
    bitrate_kbps: float | None = Field(default=None, ge=0, le=1_000_000)
    frames_decoded: int | None = Field(default=None, ge=0, le=2_000_000_000)


class GuestJoinIn(Input):
    token: Annotated[str, StringConstraints(min_length=10, max_length=100)]
    display_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)
    ]


class GuestOut(BaseModel):
    guest_id: str
    key: str = Field(description="The guest's participant key in the call.")
    call_id: str
    csrf_token: str = Field(description="Send as X-CSRF-Token on the guest's writes.")


class GuestLinkOut(BaseModel):
    url: str
    expires_at: datetime


Sdp = Annotated[str, StringConstraints(min_length=10, max_length=60_000)]


class PublishIn(Input):
    sdp: Sdp = Field(description="The browser's SDP offer for its own camera and microphone.")


class PublishOut(BaseModel):
    feed: int
    sdp: str = Field(description="The SFU's SDP answer.")


class FeedOut(BaseModel):
    participant: str
    feed: int


class SubscribeIn(Input):
    feed: int = Field(ge=1)


class SubscribeOut(BaseModel):
    handle: int
    sdp: str = Field(description="The SFU's SDP offer for that feed; answer it.")


class SdpAnswerIn(Input):
    handle: int = Field(ge=1)
    sdp: Sdp


class TrickleIn(Input):
    handle: int = Field(ge=1)
    candidate: dict[str, Any] | None = Field(
        default=None, description="An ICE candidate; none means gathering is complete."
    )


class ParticipantOut(BaseModel):
    user_id: str | None
    key: str
    display_name: str
    role: str
    state: str


class CallOut(BaseModel):
    id: str
    conversation_id: str | None
    caller_id: str | None
    media: str
    mode: str
    state: str
    outcome: str | None
    created_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float
    participants: list[ParticipantOut]


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceOut(BaseModel):
    ice_servers: list[IceServer]
    mesh_limit: int


class SignalFrame(BaseModel):
    """A client's stream frame carrying an offer, answer or ICE candidate to one participant."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["call.signal"]
    call_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    to: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    kind: Literal["offer", "answer", "ice", "renegotiate"]
    payload: dict[str, Any] = Field(default_factory=dict)
