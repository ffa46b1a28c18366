"""Errors in Parlour's own words: malformed JSON, schema errors per field, sign-up all at once."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from parlour.container import Container
from parlour.features.calls.schemas import SignalFrame
from parlour.web.validation import frame_problem, message
from tests.api.test_pages import browser, local, page
from tests.support.world import Person, instance_owner, invite, policy_version, signup_body

# What pydantic and Starlette say when left to themselves; none of it may reach a client.
LIBRARY_PHRASES = re.compile(
    r"Input should|String should|List should|Dictionary should|Value error|Field required|"
    r"Extra inputs|valid integer|valid number|valid boolean|valid list|valid dictionary|"
    r"JSON decode error|value is not a valid|There was an error parsing|Expecting value|"
    r"Check these fields: \d"
)
UNDER_AGE = "2020-01-01"


async def test_a_body_that_is_not_json_says_so_with_line_and_column(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    response = await owner.http.post(
        "/api/v1/conversations",
        content=b'{"kind": direct}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "malformed_json"
    assert problem["detail"] == "The request body is not valid JSON (line 1, column 10)."
    assert "errors" not in problem

    two_lines = await owner.http.patch(
        "/api/v1/me", content=b'{\n  "name": "A",,\n}', headers={"content-type": "application/json"}
    )
    assert two_lines.json()["detail"] == "The request body is not valid JSON (line 2, column 15)."


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    options = schema.get("anyOf") or []
    real = [o for o in options if o.get("type") != "null"]
    return _resolve(real[0], doc) if real else schema


WRONG_TYPE: dict[str, object] = {
    "string": 12345,
    "integer": "twelve",
    "number": "twelve",
    "boolean": "maybe",
    "array": "not a list",
    "object": "not an object",
}


def bad_bodies(schema: dict[str, Any], doc: dict[str, Any]) -> list[object]:
    """Bodies that break the schema in every way a client might: types, lengths, extras, shape."""
    props = {k: _resolve(v, doc) for k, v in schema.get("properties", {}).items()}
    wrong = {k: WRONG_TYPE.get(v.get("type", "string"), 12345) for k, v in props.items()}
    long = {k: "x" * 5000 if v.get("type") == "string" else 10**12 for k, v in props.items()}
    empty = {k: "" for k, v in props.items() if v.get("type") == "string"}
    return [{}, {**wrong, "not_a_field": 1}, long, empty, [1, 2], "text", None]


def json_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = _resolve(content["application/json"]["schema"], doc)
                found.append((method.upper(), path, schema))
    return found


def filled(path: str, owner: Person) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: owner.org_id if "org" in m.group(0) else "abc", path)


async def test_no_schema_error_of_any_route_speaks_in_the_library_s_words(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    doc = (await owner.http.get("/api/v1/openapi.json")).json()
    operations = json_operations(doc)
    assert len(operations) >= 20
    checked = 0
    for method, path, schema in operations:
        url = filled(path, owner)
        for body in bad_bodies(schema, doc):
            response = await owner.http.request(method, url, json=body)
            text = response.text
            assert not LIBRARY_PHRASES.search(text), (method, path, body, text[:400])
            if response.status_code == 422 and response.json()["code"] == "validation_failed":
                checked += 1
                errors = response.json().get("errors", [])
                assert all(e["field"] and e["message"] for e in errors), text
        malformed = await owner.http.request(
            method, url, content=b"{oops", headers={"content-type": "application/json"}
        )
        assert malformed.json()["code"] == "malformed_json", (method, path, malformed.text)
    assert checked >= 3 * len(operations)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        ({"type": "missing"}, "This is required."),
        ({"type": "string_too_long", "ctx": {"max_length": 120}}, "Use at most 120 characters."),
        ({"type": "string_too_short", "ctx": {"min_length": 1}}, "This cannot be empty."),
        ({"type": "string_too_short", "ctx": {"min_length": 8}}, "Use at least 8 characters."),
        ({"type": "extra_forbidden"}, "This field is not part of this request."),
        (
            {"type": "value_error", "ctx": {"reason": "no @"}},
            "Enter an email address, like name@example.org.",
        ),
        ({"type": "value_error", "ctx": {"error": ValueError("Ours.")}}, "Ours."),
        ({"type": "int_parsing"}, "Send a whole number."),
        ({"type": "literal_error", "ctx": {"expected": "'a' or 'b'"}}, "Choose one of 'a' or 'b'."),
        ({"type": "something_new_in_pydantic"}, "Check this value."),
    ],
)
def test_each_kind_of_schema_error_has_parlour_s_own_sentence(
    error: dict[str, Any], text: str
) -> None:
    assert message(error) == text


# -- sign-up: every problem at once -----------------------------------------------------------


async def test_signup_api_names_age_password_and_email_problems_in_one_answer(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    body = signup_body(
        invitation=link.rsplit("=", 1)[1],
        email="not-an-address",
        password="short",
        birth_date=UNDER_AGE,
        accept_policy="0.0",
        title="x" * 200,
        nickname="Ada",
    )
    response = await client.post("/api/v1/auth/signup", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert errors == {
        "email": "Enter an email address, like name@example.org.",
        "password": "Use at least 10 characters.",
        "birth_date": "You must be at least 16.",
        "accept_policy": "Accept the current privacy policy.",
        "title": "Use at most 120 characters.",
        "nickname": "This field is not part of this request.",
    }
    assert not LIBRARY_PHRASES.search(response.text)


async def test_signup_api_keeps_a_lone_problem_s_own_code(
    app: FastAPI, container: Container, client: httpx.AsyncClient
) -> None:
    owner = await instance_owner(app, container)
    secret = (await invite(owner)).rsplit("=", 1)[1]
    weak = await client.post(
        "/api/v1/auth/signup", json=signup_body(invitation=secret, password="aaaaaaaaaaaa")
    )
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    young = await client.post(
        "/api/v1/auth/signup", json=signup_body(invitation=secret, birth_date=UNDER_AGE)
    )
    assert young.json()["code"] == "under_minimum_age"
    assert [e["field"] for e in young.json()["errors"]] == ["birth_date"]


async def test_signup_page_marks_every_failing_field_next_to_it(
    app: FastAPI, container: Container
) -> None:
    owner = await instance_owner(app, container)
    link = await invite(owner)
    http = browser(app)
    form = await page(http, local(link))
    data = {
        **form.hidden_values("/signup"),
        "csrf_token": form.csrf,
        "name": "Ada",
        "email": "ada@@example",
        "password": "short",
        "birth_date": UNDER_AGE,
        "accept_policy": policy_version(),
    }
    response = await http.post("/signup", data=data)
    assert response.status_code == 422
    html = response.text
    for field, text in {
        "email": "Enter an email address, like name@example.org.",
        "password": "Use at least 10 characters.",
        "birth_date": "You must be at least 16.",
    }.items():
        marked = re.search(rf'id="f-{field}-error">.*?</span>(.*?)</span>', html, re.S)
        assert marked and marked.group(1).strip() == text, field
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', html, re.S), field
    assert 'id="f-name-error"' not in html
    assert not LIBRARY_PHRASES.search(html)
    await http.aclose()


def test_a_bad_stream_frame_is_described_in_parlour_s_words() -> None:
    def problem(raw: str) -> tuple[str, str]:
        try:
            SignalFrame.model_validate_json(raw)
        except ValidationError as exc:
            code, detail = frame_problem(exc.errors())
            return code.value, detail
        raise AssertionError("the frame was accepted")

    assert problem("{oops") == ("validation_failed", "The frame is not valid JSON.")
    code, detail = problem('{"type": "call.signal", "kind": "shout"}')
    assert code == "validation_failed" and not LIBRARY_PHRASES.search(detail)
    assert detail.split(":")[0] in {"call_id", "to", "kind"}
