"""Writes the privacy policy from what the code declares, so the two cannot disagree.

What is collected comes from the data map (every personal column, in its own words); why, from
PURPOSES; how long and what erasure does, from each column's rules; who receives it and where it
is kept, from the settings; cookies, from the consent feature's registry. Only the connecting
sentences are written here, and the names of categories and tables in plain words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import MetaData

from parlour.core.datamap import PURPOSES, Erasure, LegalBasis, Personal, Purpose
from parlour.features.consent.cookies import CATEGORIES, Cookie
from parlour.features.privacy.datamap import Entry, entries
from parlour.features.privacy.policy import PolicyBook
from parlour.features.privacy.policy_schemas import (
    CollectedCategory,
    CollectedItem,
    CollectedTable,
    ContactOut,
    CookieOut,
    ErasureOut,
    PolicyDocument,
    PurposeOut,
    RecipientOut,
    RetentionOut,
    RightOut,
    VersionOut,
)
from parlour.settings import Settings

CATEGORY_TITLES = {
    "user.name": "Names",
    "user.contact.email": "Email addresses",
    "user.contact.phone_number": "Phone numbers",
    "user.contact.city": "Where you are based",
    "user.contact.nickname": "Names you give your contacts",
    "user.unique_id": "Account identifiers",
    "user.unique_id.pseudonymous": "Pseudonymous identifiers",
    "user.authorization.credentials": "Passwords and sign-in factors (hashed or encrypted)",
    "user.account.role": "Roles",
    "user.account.status": "Account status",
    "user.account.metadata": "Account dates and times",
    "user.account.consent": "Your privacy choices and acceptances",
    "user.account.audit": "Audit trail of who handled your data",
    "user.account.export": "Copies of your data you asked for",
    "user.biometric.photo": "Profile picture",
    "user.workplace": "Workplace",
    "user.workplace.position": "Job title",
    "user.device": "Devices and browsers",
    "user.device.device_id": "Device identifiers",
    "user.device.ip_address": "Network addresses",
    "user.communications.message": "Messages",
    "user.communications.metadata": "Facts about your communications",
    "user.communications.call_record": "Call records",
    "user.communications.reaction": "Reactions",
    "user.communications.email": "Mail we send you",
    "user.content.conversation_name": "Names of group conversations",
    "user.behavior.read_receipt": "What you have read",
    "user.legal.hold": "Legal holds",
}
TABLE_TITLES = {
    "users": "Your account and profile",
    "auth_sessions": "Your signed-in sessions",
    "password_resets": "Password resets",
    "signin_failures": "Failed sign-ins",
    "policy_acceptances": "Privacy policy acceptances",
    "consent_ledger": "Consent record",
    "invitations": "Invitations",
    "contacts": "Your contacts",
    "blocks": "People you blocked",
    "conversations": "Conversations",
    "conversation_members": "Conversation membership",
    "messages": "Messages",
    "reactions": "Reactions",
    "events": "Live updates",
    "message_usage": "Message counts for your organisation",
    "calls": "Calls",
    "call_participants": "Call participants",
    "call_guests": "Call guests",
    "call_quality": "Call quality measurements",
    "mail_outbox": "Outgoing mail",
    "jobs": "Background work on your behalf",
    "exports": "Data exports",
    "legal_holds": "Legal holds",
    "audit_log": "Audit log",
}
SUBJECTS = {
    "user": "you",
    "guest": "a call guest",
    "visitor": "a visitor who is not signed in",
    "recipient": "the person we mail",
    "invitee": "the person invited",
    "administrator": "the administrator who acted",
}
BASIS_TEXT = {
    LegalBasis.CONSENT: "your consent, which you can withdraw at any time",
    LegalBasis.CONTRACT: "our contract with you: the service you signed up for",
    LegalBasis.LEGAL_OBLIGATION: "a legal obligation",
    LegalBasis.LEGITIMATE_INTEREST: "our legitimate interest, which you can object to",
}
ERASURE_TEXT = {
    Erasure.DELETE: "Deleted.",
    Erasure.NULL: "Cleared: the record stays, without the value.",
    Erasure.PSEUDONYMISE: "Replaced by a pseudonym that no longer leads to you.",
    Erasure.KEEP: "Kept for the stated reason until its retention period ends, then deleted.",
}
CONTACT_FORM = "/privacy/contact"


@dataclass(frozen=True)
class Inputs:
    """What the policy is made from, besides the data map."""

    settings: Settings
    book: PolicyBook
    today: date
    cookies: tuple[Cookie, ...]
    pages: frozenset[str]  # the page paths this app serves, to link only to what exists


def humanise(key: str) -> str:
    return key.replace("_", " ").strip()


def category_title(key: str) -> str:
    if key in CATEGORY_TITLES:
        return CATEGORY_TITLES[key]
    return humanise(key.removeprefix("user.").replace(".", " ")).capitalize()


def table_title(table: str) -> str:
    return TABLE_TITLES.get(table, humanise(table).capitalize())


def build(metadata: MetaData, inputs: Inputs) -> PolicyDocument:
    personal = [e for e in entries(metadata) if isinstance(e.declaration, Personal)]
    current = inputs.book.current(inputs.today)
    s = inputs.settings
    return PolicyDocument(
        version=current.version,
        effective=current.effective,
        summary=current.summary,
        material=current.material,
        versions=[VersionOut(**v.__dict__) for v in inputs.book.history()],
        min_age=s.default_min_age,
        data_region=s.data_region,
        collected=collected(personal),
        purposes=purposes(personal),
        retention=retention(personal),
        erasure=erasure(personal),
        recipients=recipients(personal),
        sub_processors=[RecipientOut(**p.model_dump()) for p in s.sub_processors],
        cookies=cookies(inputs.cookies),
        rights=rights(inputs.pages),
        contact=ContactOut(
            privacy_email=s.privacy_contact_email,
            dpo_name=s.dpo_name,
            dpo_email=s.dpo_email,
            form=CONTACT_FORM if CONTACT_FORM in inputs.pages else None,
        ),
    )


def _declared(entry: Entry) -> Personal:
    assert isinstance(entry.declaration, Personal)  # noqa: S101 - filtered by the caller
    return entry.declaration


def item(entry: Entry) -> CollectedItem:
    d = _declared(entry)
    return CollectedItem(
        table=entry.table,
        column=entry.column,
        label=humanise(entry.column).capitalize(),
        text=d.description,
        about=SUBJECTS.get(d.subject, "no one directly: a pseudonym"),
        purposes=list(d.purposes),
        retention=d.retention.describe(),
        erasure=d.erasure.value,
        shared=d.shared,
    )


def collected(personal: list[Entry]) -> list[CollectedCategory]:
    """Every personal column, grouped by category, then by table; categories sorted by title."""
    grouped: dict[str, dict[str, list[CollectedItem]]] = defaultdict(lambda: defaultdict(list))
    for entry in personal:
        grouped[_declared(entry).category][entry.table].append(item(entry))
    out = [
        CollectedCategory(
            key=key,
            title=category_title(key),
            tables=[
                CollectedTable(table=t, title=table_title(t), items=items)
                for t, items in sorted(tables.items(), key=lambda kv: table_title(kv[0]))
            ],
        )
        for key, tables in grouped.items()
    ]
    return sorted(out, key=lambda c: c.title)


def _categories_of(personal: Iterable[Entry], purpose: Purpose) -> list[str]:
    keys = {_declared(e).category for e in personal if purpose.key in _declared(e).purposes}
    return sorted(category_title(k) for k in keys)


def purposes(personal: list[Entry]) -> list[PurposeOut]:
    return [
        PurposeOut(
            key=p.key,
            name=p.name,
            legal_basis=p.basis.value,
            basis_text=BASIS_TEXT[p.basis],
            description=p.description,
            essential=p.essential,
            categories=_categories_of(personal, p),
        )
        for p in PURPOSES.values()
    ]


def retention(personal: list[Entry]) -> list[RetentionOut]:
    rules: dict[str, set[str]] = defaultdict(set)
    for entry in personal:
        d = _declared(entry)
        rules[d.retention.describe()].add(
            f"{category_title(d.category)} ({table_title(entry.table)})"
        )
    return [
        RetentionOut(rule=rule, categories=sorted(found)) for rule, found in sorted(rules.items())
    ]


def erasure(personal: list[Entry]) -> list[ErasureOut]:
    rules: dict[Erasure, list[str]] = defaultdict(list)
    for entry in personal:
        rules[_declared(entry).erasure].append(
            f"{table_title(entry.table)}: {humanise(entry.column)}"
        )
    return [
        ErasureOut(rule=rule.value, meaning=ERASURE_TEXT[rule], items=rules[rule])
        for rule in Erasure
        if rule in rules
    ]


def recipients(personal: list[Entry]) -> list[RecipientOut]:
    """The people inside Parlour who see some of your data because of what it is for."""
    shared = sorted(
        {category_title(_declared(e).category) for e in personal if _declared(e).shared}
    )
    admin = _categories_of(personal, PURPOSES["organisation_admin"])
    return [
        RecipientOut(
            name="The people in your conversations and calls",
            purpose="They see what is part of the communication: " + ", ".join(shared).lower(),
            region="wherever they are",
        ),
        RecipientOut(
            name="Your organisation's administrators",
            purpose=PURPOSES["organisation_admin"].description
            + " They see: "
            + ", ".join(admin).lower(),
            region="inside this instance",
        ),
    ]


def cookies(registry: tuple[Cookie, ...]) -> list[CookieOut]:
    return [
        CookieOut(
            name=c.name,
            category=CATEGORIES[c.category].name,
            storage=c.storage,
            purpose=PURPOSES[c.purpose].name,
            lifetime=c.lifetime,
            description=c.description,
        )
        for c in registry
    ]


# (key, name, how, candidate pages, API call); the first candidate page that exists is linked.
RIGHTS: tuple[tuple[str, str, str, tuple[str, ...], str | None], ...] = (
    (
        "access",
        "See and take away your data",
        "Ask for a copy of everything we hold about you, as a ZIP file you can download.",
        ("/privacy/export", "/privacy/data"),
        "POST /api/v1/me/export",
    ),
    (
        "rectification",
        "Correct your data",
        "Change your name, contact details and profile whenever you like.",
        ("/profile",),
        "PATCH /api/v1/me",
    ),
    (
        "erasure",
        "Delete your account",
        "Your account stops working at once; your data is then erased by its rules above.",
        ("/privacy/delete", "/profile/delete"),
        "DELETE /api/v1/me",
    ),
    (
        "consent",
        "Give or withdraw consent",
        "Withdrawing is as easy as giving, and takes effect at once.",
        ("/privacy/centre",),
        "PUT /api/v1/me/consents",
    ),
    (
        "restriction",
        "Restrict or object",
        "Stop a purpose that is not needed for the service; it stops at once.",
        ("/privacy/centre",),
        "PUT /api/v1/me/consents",
    ),
    (
        "complaint",
        "Ask us, or complain",
        "Write to the privacy contact below. You may also complain to your data protection "
        "authority.",
        (CONTACT_FORM,),
        None,
    ),
)


# Every page the policy may link to; the app says which of them it serves.
LINKABLE = frozenset({CONTACT_FORM, *(page for right in RIGHTS for page in right[3])})


def rights(pages: frozenset[str]) -> list[RightOut]:
    return [
        RightOut(
            key=key,
            name=name,
            how=how,
            link=next((p for p in candidates if p in pages), None),
            api=api,
        )
        for key, name, how, candidates, api in RIGHTS
    ]
