"""What a person reads when sign-in through their organisation is refused, by reason."""

from __future__ import annotations

from parlour.core.errors import AppError, ErrorCode

START_AGAIN = "Start again from the sign-in page."
REFUSALS = {
    "state": "This sign-in was started in another browser tab or has expired. " + START_AGAIN,
    "expired": "This sign-in has expired. " + START_AGAIN,
    "cancelled": "Your organisation's sign-in did not complete, so you are not signed in. "
    + START_AGAIN,
    "replayed": "This sign-in answer was used already; each one works once. " + START_AGAIN,
    "nonce": "The answer from your organisation's sign-in does not belong to this sign-in. "
    + START_AGAIN,
    "audience": "The answer from your organisation's sign-in was meant for another application.",
    "issuer": "The answer did not come from your organisation's identity provider.",
    "expired_token": "The answer from your organisation's sign-in has expired. " + START_AGAIN,
    "signature": "The answer from your organisation's sign-in is not signed by its provider.",
    "algorithm": "The answer from your organisation's sign-in is signed in a way Parlour refuses.",
    "malformed": "The answer from your organisation's sign-in could not be read.",
    "code": "Your organisation's identity provider did not accept this sign-in. " + START_AGAIN,
    "email_verified": "Your organisation's identity provider has not verified your email "
    "address, so Parlour cannot sign you in with it. Ask your administrator.",
    "email_domain": "Your email address is not in one of your organisation's domains on "
    "Parlour. Ask your administrator.",
    "other_org": "Your account belongs to another organisation on this Parlour instance. "
    "Sign in with your password instead.",
    "provider": "Your organisation's identity provider cannot be reached right now. "
    "Try again in a few minutes, or sign in with your password.",
    "account_status": "This account cannot sign in. Ask your administrator.",
}
CODES = {
    "state": ErrorCode.SSO_STATE_MISMATCH,
    "cancelled": ErrorCode.SSO_CANCELLED,
    "code": ErrorCode.SSO_CANCELLED,
    "email_verified": ErrorCode.SSO_EMAIL_UNVERIFIED,
    "email_domain": ErrorCode.SSO_DOMAIN_UNMAPPED,
    "domain": ErrorCode.SSO_DOMAIN_UNMAPPED,
    "other_org": ErrorCode.FORBIDDEN,
    "account_status": ErrorCode.FORBIDDEN,
    "provider": ErrorCode.SSO_PROVIDER_UNREACHABLE,
}


def refusal(reason: str, domain: str = "") -> AppError:
    """The error for a refusal; token problems share one code, with their own sentence."""
    if reason == "domain":
        text = f"No organisation on this Parlour instance signs in with {domain or 'that domain'}."
        return AppError(
            ErrorCode.SSO_DOMAIN_UNMAPPED,
            text + " Sign in with your password, or check the address.",
            fields={"email": text},
        )
    key = "expired_token" if reason == "expired" else reason
    text = REFUSALS.get(key, REFUSALS["malformed"])
    return AppError(CODES.get(reason, ErrorCode.SSO_TOKEN_INVALID), text)
