"""Imports every model so the metadata is complete (for migrations and the data map)."""

from parlour.db.base import Base
from parlour.features.accounts import models as accounts_models
from parlour.features.analytics import models as analytics_models
from parlour.features.apikeys import models as apikeys_models
from parlour.features.audit import models as audit_models
from parlour.features.calls import models as calls_models
from parlour.features.chat import models as chat_models
from parlour.features.consent import models as consent_models
from parlour.features.mfa import models as mfa_models
from parlour.features.orgs import models as orgs_models
from parlour.features.privacy import models as privacy_models
from parlour.features.requests import models as requests_models
from parlour.features.sso import models as sso_models
from parlour.features.webhooks import models as webhooks_models
from parlour.jobs import models as jobs_models
from parlour.mail import models as mail_models

__all__ = [
    "Base",
    "accounts_models",
    "analytics_models",
    "apikeys_models",
    "audit_models",
    "calls_models",
    "chat_models",
    "consent_models",
    "jobs_models",
    "mail_models",
    "mfa_models",
    "orgs_models",
    "privacy_models",
    "requests_models",
    "sso_models",
    "webhooks_models",
]
