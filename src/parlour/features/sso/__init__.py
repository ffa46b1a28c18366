"""Sign-in with an organisation's OpenID Connect provider (P-ACC-6).

The web edge (``routes`` and ``pages``) is wired by the app; everything else uses these names.
"""

from parlour.features.sso.models import IdentityProvider, LinkedIdentity, SpentNonce, SsoDomain
from parlour.features.sso.oidc import OidcClient
from parlour.features.sso.service import (
    NeedsAccount,
    NewAccountView,
    ProviderChange,
    ProviderView,
    SignedIn,
    SsoService,
    Started,
)

__all__ = [
    "IdentityProvider",
    "LinkedIdentity",
    "NeedsAccount",
    "NewAccountView",
    "OidcClient",
    "ProviderChange",
    "ProviderView",
    "SignedIn",
    "SpentNonce",
    "SsoDomain",
    "SsoService",
    "Started",
]
