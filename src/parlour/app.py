"""create_app(settings): builds the web app; everything long-lived starts in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from parlour import __version__
from parlour.container import build_container
from parlour.core.clock import Clock
from parlour.features.accounts.pages import router as accounts_pages_router
from parlour.features.accounts.routes import router as accounts_router
from parlour.features.apikeys.pages import router as api_keys_pages_router
from parlour.features.apikeys.routes import router as api_keys_router
from parlour.features.audit.pages import router as audit_pages_router
from parlour.features.audit.routes import router as audit_router
from parlour.features.calls.guest_pages import router as guest_pages_router
from parlour.features.calls.routes import guests as guest_calls_router
from parlour.features.calls.routes import router as calls_router
from parlour.features.chat.pages import router as chat_pages_router
from parlour.features.chat.routes import router as chat_router
from parlour.features.consent import pages as consent_pages
from parlour.features.consent import routes as consent_routes
from parlour.features.marketing.pages import router as marketing_pages_router
from parlour.features.mfa.pages import router as mfa_pages_router
from parlour.features.mfa.routes import router as mfa_router
from parlour.features.orgs.pages import router as orgs_pages_router
from parlour.features.orgs.routes import router as orgs_router
from parlour.features.privacy import policy_pages
from parlour.features.privacy.data_pages import router as data_pages_router
from parlour.features.privacy.hold_pages import router as hold_pages_router
from parlour.features.privacy.policy_routes import router as policy_router
from parlour.features.privacy.routes import router as privacy_router
from parlour.features.requests.handler_pages import router as handler_pages_router
from parlour.features.requests.pages import router as requests_pages_router
from parlour.features.requests.routes import router as requests_router
from parlour.features.sso.pages import router as sso_pages_router
from parlour.features.sso.routes import router as sso_router
from parlour.features.webhooks.pages import router as webhooks_pages_router
from parlour.features.webhooks.routes import router as webhooks_router
from parlour.settings import Settings
from parlour.web import pages, problems
from parlour.web.middleware import AccessLog, RefuseNul, SecurityHeaders
from parlour.web.stream import router as stream_router


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build_container(settings, clock)
        app.state.container = container
        await container.start()
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(
        title="Parlour",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    problems.install(app)
    pages.install(app)
    app.include_router(accounts_router)
    app.include_router(mfa_router)
    app.include_router(orgs_router)
    app.include_router(privacy_router)
    app.include_router(policy_router)
    app.include_router(audit_router)
    app.include_router(api_keys_router)
    app.include_router(requests_router)
    app.include_router(requests_pages_router)
    app.include_router(chat_router)
    app.include_router(calls_router)
    app.include_router(guest_calls_router)
    app.include_router(stream_router)
    app.include_router(chat_pages_router)
    app.include_router(guest_pages_router)
    app.include_router(consent_routes.router)
    app.include_router(consent_routes.well_known)
    consent_pages.install(app)
    policy_pages.install(app)
    app.include_router(data_pages_router)
    app.include_router(marketing_pages_router)
    app.include_router(accounts_pages_router)
    app.include_router(mfa_pages_router)
    app.include_router(orgs_pages_router)
    app.include_router(handler_pages_router)
    app.include_router(hold_pages_router)
    app.include_router(audit_pages_router)
    app.include_router(api_keys_pages_router)
    app.include_router(webhooks_router)
    app.include_router(webhooks_pages_router)
    app.include_router(sso_router)
    app.include_router(sso_pages_router)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(RefuseNul)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    return app
