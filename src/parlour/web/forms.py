"""Forms on pages: parsing posted fields with the wire schemas, errors per field, safe redirects.

A page that fails keeps what the person typed (never passwords) and shows an error summary at
the top that links to each field marked invalid; `FormErrors` is what the templates read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from parlour.core.errors import AppError, ErrorCode
from parlour.web import validation
from parlour.web.pages import redirect, render, signin_redirect

M = TypeVar("M", bound=BaseModel)

# What to say when a field fails the schema; other fields get web.validation's text per error.
MESSAGES = {
    "name": "Enter your name.",
    "email": "Enter an email address, like name@example.org.",
    "password": "Enter your password.",
    "current_password": "Enter your current password.",
    "new_password": "Enter a new password.",
    "birth_date": "Enter your date of birth.",
    "accept_policy": "Accept the current privacy policy to continue.",
    "phone": "Use up to 40 digits, spaces and the characters + ( ) - . only.",
    "org_name": "Give the organisation a name.",
    "min_age": "Choose 16, 17 or 18.",
    "role": "Choose owner, admin or member.",
    "token": "This link is incomplete. Open it again from the message that brought you here.",
    "invitation": "This invitation link is incomplete. Open it again from your invitation.",
}


@dataclass(frozen=True)
class FormErrors:
    detail: str
    fields: dict[str, str] = field(default_factory=dict)
    # (anchor of the field or None, message): the summary's list, in the form's order.
    items: list[tuple[str | None, str]] = field(default_factory=list)

    @classmethod
    def of(
        cls, error: AppError, on_form: Iterable[str], aliases: Mapping[str, str] | None = None
    ) -> FormErrors:
        """Service errors name fields by their API names; `aliases` maps them to this form's."""
        names = list(on_form)
        fields = {(aliases or {}).get(k, k): v for k, v in error.fields.items()}
        marked = {k: v for k, v in fields.items() if k in names}
        items: list[tuple[str | None, str]] = [
            ("f-" + name, marked[name]) for name in names if name in marked
        ]
        items += [(None, v) for k, v in fields.items() if k not in marked and v != error.detail]
        return cls(error.detail, marked, items)


def validate(
    model: type[M], data: Mapping[str, Any], renamed: Mapping[str, str] | None = None
) -> tuple[M | None, dict[str, str]]:
    """The model, or None and a message per form field that failed, in the schema's order.

    Only the fields the schema knows are read (the CSRF field and others are left out);
    `renamed` maps a schema field to the form field that carries it, for errors to name it too.
    """
    names = {k: (renamed or {}).get(k, k) for k in model.model_fields}
    values = {k: data[form_name] for k, form_name in names.items() if form_name in data}
    try:
        return model.model_validate(values), {}
    except ValidationError as exc:
        found: dict[str, str] = {}
        for err in exc.errors():
            name = names.get(str(err["loc"][0]), "form") if err["loc"] else "form"
            found.setdefault(name, _message(name, err))
        return None, {n: found[n] for n in [*names.values(), "form"] if n in found}


def parse(model: type[M], data: Mapping[str, Any], renamed: Mapping[str, str] | None = None) -> M:
    """Validates the posted fields the schema knows; every field that fails is named at once."""
    body, fields = validate(model, data, renamed)
    if body is None:
        raise AppError(ErrorCode.VALIDATION_FAILED, "Some fields need another look.", fields=fields)
    return body


def _message(name: str, error: Mapping[str, Any]) -> str:
    """The field's own sentence (say, 'Enter your name.'), unless the text is only too long."""
    if error["type"] == "string_too_long" or name not in MESSAGES:
        return validation.message(error)
    return MESSAGES[name]


def text(data: Mapping[str, Any], name: str) -> str:
    """A posted text value, or '' (a file or an absent field are not text)."""
    value = data.get(name)
    return value if isinstance(value, str) else ""


def kept(data: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The values to put back into a form after an error: text only, never passwords."""
    return {n: text(data, n) for n in names if "password" not in n}


async def render_form(
    request: Request,
    template: str,
    error: AppError,
    on_form: Iterable[str],
    *,
    aliases: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The form again, with the person's input, the summary and the fields marked."""
    errors = FormErrors.of(error, on_form, aliases)
    response = await render(request, template, status=error.status, errors=errors, **context)
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site; otherwise the default (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def signin_first(request: Request) -> RedirectResponse:
    """Where a signed-out visitor goes: back here after signing in, for a page they can GET."""
    if request.method == "GET":
        return signin_redirect(request)
    return redirect("/signin?notice=signed-out")


def notice(request: Request, notices: Mapping[str, str]) -> str | None:
    """A fixed message chosen by a query key (never text taken from the address)."""
    return notices.get(request.query_params.get("notice", ""))
