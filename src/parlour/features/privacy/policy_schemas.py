"""The generated privacy policy as data: the page renders it, GET /api/v1/policy returns it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class CollectedItem(BaseModel):
    table: str
    column: str
    label: str = Field(description="The column's name in plain words.")
    text: str = Field(description="What it is, from the data map (empty when the name says it).")
    about: str = Field(description="Whom the value is about: you, a guest, a visitor …")
    purposes: list[str] = Field(description="Keys of the purposes it serves.")
    retention: str
    erasure: str = Field(description="delete, null, pseudonymise or keep")
    shared: bool = Field(description="Part of a communication: the other people in it see it.")


class CollectedTable(BaseModel):
    table: str
    title: str
    items: list[CollectedItem]


class CollectedCategory(BaseModel):
    key: str = Field(description="The data category (fideslang vocabulary).")
    title: str
    tables: list[CollectedTable]


class PurposeOut(BaseModel):
    key: str
    name: str
    legal_basis: str
    basis_text: str
    description: str
    essential: bool
    categories: list[str] = Field(description="Titles of the categories of data it uses.")


class RetentionOut(BaseModel):
    rule: str
    categories: list[str]


class ErasureOut(BaseModel):
    rule: str
    meaning: str
    items: list[str]


class RecipientOut(BaseModel):
    name: str
    purpose: str
    region: str


class CookieOut(BaseModel):
    name: str
    category: str
    storage: str
    purpose: str
    lifetime: str
    description: str


class RightOut(BaseModel):
    key: str
    name: str
    how: str
    link: str | None = Field(description="The page where you do it, when there is one.")
    api: str | None = Field(description="The API call that does it.")


class ContactOut(BaseModel):
    privacy_email: str | None
    dpo_name: str | None
    dpo_email: str | None
    form: str | None = Field(description="The contact form's address, when there is one.")


class VersionOut(BaseModel):
    version: str
    effective: date
    material: bool
    summary: str


class PolicyDocument(BaseModel):
    version: str
    effective: date
    summary: str
    material: bool
    versions: list[VersionOut] = Field(description="Every version, newest first.")
    min_age: int = Field(description="The youngest age at which anyone may have an account.")
    data_region: str | None = Field(description="Where the data is kept, as the operator says.")
    collected: list[CollectedCategory]
    purposes: list[PurposeOut]
    retention: list[RetentionOut]
    erasure: list[ErasureOut]
    recipients: list[RecipientOut] = Field(description="Who else receives data, and why.")
    sub_processors: list[RecipientOut]
    cookies: list[CookieOut]
    rights: list[RightOut]
    contact: ContactOut
