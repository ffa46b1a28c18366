"""Two-factor sign-in: authenticator apps (TOTP), recovery codes and passkeys (WebAuthn).

The public surface; other features and the composition root import from here only.
"""

from parlour.features.mfa.passkeys import PasskeyService
from parlour.features.mfa.service import Enrolment, MfaService, Status

__all__ = ["Enrolment", "MfaService", "PasskeyService", "Status"]
