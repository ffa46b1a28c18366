"""The cookie registry: every cookie Parlour sets, its category, purpose and lifetime.

A cookie that is not listed here must not be set (a test walks every route to check). Only
strictly necessary cookies are set before the visitor chooses; a cookie of any other category
needs consent to the purpose its category stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from parlour.core.datamap import PURPOSES
from parlour.core.words import plural

SESSION = "parlour_session"
FORM_CSRF = "parlour_csrf"
CONSENT = "parlour_consent"
GUEST = "parlour_guest"


class Category(StrEnum):
    """The five categories of cookies and similar storage the seed policies name."""

    STRICTLY_NECESSARY = "strictly_necessary"
    PERFORMANCE = "performance"
    FUNCTIONALITY = "functionality"
    TARGETING = "targeting"
    SOCIAL_MEDIA = "social_media"


@dataclass(frozen=True)
class CategoryInfo:
    category: Category
    name: str
    description: str
    purpose: str | None  # the purpose whose consent allows it; None: never without a purpose


CATEGORIES: dict[Category, CategoryInfo] = {
    c.category: c
    for c in (
        CategoryInfo(
            Category.STRICTLY_NECESSARY,
            "Strictly necessary",
            "Needed to sign in, keep forms safe and remember your cookie choice. Always on.",
            None,
        ),
        CategoryInfo(
            Category.PERFORMANCE,
            "Performance",
            "Count visits and measure how pages perform, in aggregates only.",
            "analytics",
        ),
        CategoryInfo(
            Category.FUNCTIONALITY,
            "Functionality",
            "Remember preferences such as layout and language.",
            "personalisation",
        ),
        CategoryInfo(
            Category.TARGETING,
            "Targeting",
            "Tailor news and offers to you.",
            "marketing",
        ),
        CategoryInfo(
            Category.SOCIAL_MEDIA,
            "Social media",
            "Share to social networks. Parlour has no such feature and sets none.",
            None,
        ),
    )
}


@dataclass(frozen=True)
class Cookie:
    name: str
    category: Category
    purpose: str
    lifetime: str
    description: str
    storage: str = "cookie"  # or "localStorage", "sessionStorage"


def registry(session_days: int, consent_days: int) -> tuple[Cookie, ...]:
    """Every cookie and browser storage key Parlour uses, with lifetimes from the settings."""
    return (
        Cookie(
            SESSION,
            Category.STRICTLY_NECESSARY,
            "account_security",
            f"{plural(session_days, 'day')}, or until you sign out",
            "Keeps you signed in: a signed, opaque session id. HttpOnly.",
        ),
        Cookie(
            FORM_CSRF,
            Category.STRICTLY_NECESSARY,
            "account_security",
            "until you close the browser",
            "A random value that proves forms you send before signing in came from this site.",
        ),
        Cookie(
            GUEST,
            Category.STRICTLY_NECESSARY,
            "provide_service",
            "a day at most; it stops working when the call ends",
            "Lets a guest who joined a call by link take part in that one call: a signed id.",
        ),
        Cookie(
            CONSENT,
            Category.STRICTLY_NECESSARY,
            "legal_compliance",
            f"{plural(consent_days, 'day')}, then we ask again",
            "Remembers your cookie choice: a random visitor id and what you chose, signed.",
        ),
    )


def category_of(name: str, cookies: tuple[Cookie, ...]) -> Category | None:
    return next((c.category for c in cookies if c.name == name), None)


def purpose_of(category: Category) -> str | None:
    return CATEGORIES[category].purpose


def check_registry(cookies: tuple[Cookie, ...]) -> None:
    """Fails loudly on a registry entry with an unknown purpose or a duplicate name."""
    names = [c.name for c in cookies]
    if len(names) != len(set(names)):
        raise ValueError("a cookie is registered twice")
    for cookie in cookies:
        if cookie.purpose not in PURPOSES:
            raise ValueError(f"cookie {cookie.name} names unknown purpose {cookie.purpose}")
