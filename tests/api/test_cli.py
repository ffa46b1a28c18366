"""The `parlour` command, run as the operator runs it: a real process on a real data folder."""

from __future__ import annotations

import json
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from parlour import __version__
from parlour.app import create_app
from parlour.cli import app as cli_app
from parlour.db.engine import create_engine
from parlour.features.accounts.models import PolicyAcceptance, User
from parlour.settings import Settings
from tests.support.live import free_port
from tests.support.server import SECRET, parlour, parlour_env

PASSWORD = "correct horse battery staple"
ORG_ID = re.compile(r"\(([0-9a-f]{32})\)")
LINK = re.compile(r"(https?://\S+)")


def one_line_error(result: subprocess.CompletedProcess[str], setting: str) -> str:
    """Asserts the operator's contract for bad settings and returns the message."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`parlour migrate` once per module; each test gets a copy of the result."""
    folder = tmp_path_factory.mktemp("migrated") / "var"
    result = parlour("migrate", env=parlour_env(folder))
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    return folder


@pytest.fixture
def env(migrated: Path, data_dir: Path) -> dict[str, str]:
    """A migrated instance in its own data folder."""
    shutil.copytree(migrated, data_dir)
    return parlour_env(data_dir)


def create_org(env: dict[str, str], name: str = "Acme", *extra: str) -> tuple[str, str]:
    made = parlour("admin", "create-org", name, *extra, env=env)
    assert made.returncode == 0, made.stderr
    org = ORG_ID.search(made.stdout)
    link = LINK.search(made.stdout.split("Owner invitation:")[1])
    assert org and link, made.stdout
    return org.group(1), link.group(1)


def create_user(
    env: dict[str, str], org_id: str, email: str, born: str = "1990-01-01"
) -> subprocess.CompletedProcess[str]:
    return parlour(
        "admin", "create-user", "--org-id", org_id, "--email", email, "--name", "Ada Lovelace",
        "--birth-date", born, "--password", PASSWORD, env=env,
    )  # fmt: skip


@asynccontextmanager
async def api_on(data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API in this process, on the data folder the commands used."""
    settings = Settings(
        data_dir=data_dir, secret_key=SECRET, password_time_cost=1, password_memory_cost=1024
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> int:
    response = await http.post("/api/v1/auth/signin", json={"email": email, "password": password})
    return response.status_code


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = parlour("--version", env=parlour_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"parlour {__version__}"


@pytest.mark.parametrize("command", [["migrate"], ["serve"]])
def test_an_unreachable_database_is_one_line_naming_the_setting(
    data_dir: Path, command: list[str]
) -> None:
    env = parlour_env(
        data_dir, database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", port=str(free_port())
    )
    one_line_error(parlour(*command, env=env), "PARLOUR_DATABASE_URL")


def test_a_port_in_use_is_one_line_naming_the_setting(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = one_line_error(parlour("serve", "--port", str(port), env=env), "PARLOUR_PORT")
    assert f"{port} is in use" in message


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_a_data_folder_that_cannot_be_written_is_one_line_naming_the_setting(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    env = parlour_env(tmp_path / "afile" / "sub", port=str(free_port()))
    one_line_error(parlour(command, env=env), "PARLOUR_DATA_DIR")


@pytest.mark.parametrize(
    ("name", "value"),
    [("port", "notanumber"), ("log_level", "chatty")],
)
def test_an_invalid_setting_value_is_one_line_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    env = parlour_env(tmp_path, **{name: value})
    one_line_error(parlour("migrate", env=env), f"PARLOUR_{name.upper()}")


def test_serve_refuses_a_schema_that_is_not_migrated(data_dir: Path) -> None:
    env = parlour_env(data_dir, port=str(free_port()))
    message = one_line_error(parlour("serve", env=env), "PARLOUR_DATABASE_URL")
    assert "parlour migrate" in message


def test_create_org_prints_an_owner_invitation_link(env: dict[str, str]) -> None:
    made = parlour("admin", "create-org", "Acme", "--owner-email", "o@example.org", env=env)
    assert made.returncode == 0, made.stderr
    assert "Created organisation Acme" in made.stdout
    link = LINK.search(made.stdout.split("Owner invitation:")[1])
    assert link and parse_qs(urlparse(link.group(1)).query)["invitation"][0]


def test_create_org_refuses_a_minimum_age_below_sixteen(env: dict[str, str]) -> None:
    refused = parlour("admin", "create-org", "Acme", "--min-age", "13", env=env)
    one_line_error(refused, "--min-age")


async def test_create_user_makes_an_account_that_can_sign_in(
    env: dict[str, str], data_dir: Path
) -> None:
    org_id, _ = create_org(env)
    made = create_user(env, org_id, "Ada@Example.org")
    assert made.returncode == 0, made.stderr
    assert "Created ada@example.org" in made.stdout
    async with api_on(data_dir) as http:
        assert await sign_in(http, "ada@example.org", PASSWORD) == 200
        assert await sign_in(http, "ada@example.org", PASSWORD + "!") == 401


async def test_create_user_records_no_policy_acceptance_the_person_never_gave(
    env: dict[str, str], data_dir: Path
) -> None:
    org_id, link = create_org(env)
    made = create_user(env, org_id, "ada@example.org")
    assert made.returncode == 0, made.stderr
    async with api_on(data_dir) as http:
        assert await sign_in(http, "ada@example.org", PASSWORD) == 200
        # Someone who registers themselves does leave a record, so the query below can see one.
        invitation = parse_qs(urlparse(link).query)["invitation"][0]
        policy = (await http.get("/api/v1/policy")).json()["version"]
        body = {
            "invitation": invitation, "name": "Grace", "email": "grace@example.org",
            "password": PASSWORD, "birth_date": "1990-01-01", "accept_policy": policy,
        }  # fmt: skip
        assert (await http.post("/api/v1/auth/signup", json=body)).status_code == 201
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'parlour.db'}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(User.email, func.count(PolicyAcceptance.id))
                .outerjoin(PolicyAcceptance, PolicyAcceptance.user_id == User.id)
                .group_by(User.email)
            )
            acceptances = {email: count for email, count in rows.all()}
    finally:
        await engine.dispose()
    assert acceptances == {"ada@example.org": 0, "grace@example.org": 1}


@pytest.mark.promise("P-ACC-2")
async def test_create_user_refuses_someone_under_the_minimum_age_and_stores_nothing(
    env: dict[str, str], data_dir: Path
) -> None:
    org_id, _ = create_org(env, "Sixth Form", "--min-age", "18")
    refused = create_user(env, org_id, "young@example.org", born="2015-06-01")
    message = one_line_error(refused, "--birth-date")
    assert "at least 18" in message
    again = create_user(env, org_id, "young@example.org")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    ("option", "value"), [("--email", "not-an-email"), ("--birth-date", "01/02/1990")]
)
def test_create_user_names_the_option_that_is_wrong(
    env: dict[str, str], option: str, value: str
) -> None:
    org_id, _ = create_org(env)
    args = {"--email": "a@example.org", "--birth-date": "1990-01-01", option: value}
    refused = parlour(
        "admin", "create-user", "--org-id", org_id, "--name", "A", "--password", PASSWORD,
        *(part for pair in args.items() for part in pair), env=env,
    )  # fmt: skip
    one_line_error(refused, option)


@pytest.mark.promise("P-ACC-3")
async def test_reset_password_prints_a_single_use_link_and_the_old_password_stops_working(
    env: dict[str, str], data_dir: Path
) -> None:
    org_id, _ = create_org(env)
    assert create_user(env, org_id, "ada@example.org").returncode == 0
    reset = parlour("admin", "reset-password", "ada@example.org", env=env)
    assert reset.returncode == 0, reset.stderr
    assert PASSWORD not in reset.stdout
    links = LINK.findall(reset.stdout)
    assert len(links) == 1
    token = parse_qs(urlparse(links[0]).query)["token"][0]
    new = "a brand new passphrase"
    async with api_on(data_dir) as http:
        assert await sign_in(http, "ada@example.org", PASSWORD) == 401
        confirm = {"token": token, "new_password": new}
        first = await http.post("/api/v1/auth/password-reset/confirm", json=confirm)
        assert first.status_code == 204
        again = await http.post("/api/v1/auth/password-reset/confirm", json=confirm)
        assert again.status_code == 400 and again.json()["code"] == "token_invalid"
        assert await sign_in(http, "ada@example.org", new) == 200


def test_reset_password_for_an_unknown_email_says_so(env: dict[str, str]) -> None:
    one_line_error(parlour("admin", "reset-password", "nobody@example.org", env=env), "user")


def test_datamap_prints_a_table_and_valid_json() -> None:
    runner = CliRunner()
    table = runner.invoke(cli_app, ["privacy", "datamap"])
    assert table.exit_code == 0, table.output
    assert "Parlour data map" in table.output and "users.email" in table.output

    as_json = runner.invoke(cli_app, ["privacy", "datamap", "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    email = next(r for r in rows if (r["table"], r["column"]) == ("users", "email"))
    assert email["personal"] is True and email["purposes"]
    assert all(r["personal"] or r["reason"] for r in rows)


@contextmanager
def serving(env: dict[str, str]) -> Iterator[queue.Queue[str | None]]:
    """`parlour serve` as a process; its output lines arrive on a queue (None at the end)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "parlour", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        reader.join(timeout=5)
    assert process.returncode is not None


def read_banner(lines: queue.Queue[str | None]) -> tuple[str, str]:
    """The served address and the setup link, from the first lines `serve` prints."""
    address = setup = None
    seen: list[str] = []
    while address is None or setup is None:
        line = lines.get(timeout=60)
        assert line is not None, "parlour serve exited:\n" + "".join(seen)
        seen.append(line)
        if match := re.search(r"serving at (http://\S+)", line):
            address = match.group(1)
        elif match := re.search(r"(http://\S+/setup\?token=\S+)", line):
            setup = match.group(1)
    return address, setup


def wait_healthy(address: str) -> httpx.Response:
    """Polls /health for at most 60 s; the poll interval is the only wait."""
    with httpx.Client(timeout=2) as http:
        for _ in range(600):
            try:
                return http.get(f"{address}/health")
            except httpx.TransportError:
                threading.Event().wait(0.1)
    raise AssertionError(f"{address}/health did not answer within 60 s")


def test_serve_prints_its_address_and_setup_link_and_answers_health(env: dict[str, str]) -> None:
    port = free_port()
    env = {**env, "PARLOUR_PORT": str(port)}
    with serving(env) as lines:
        address, setup = read_banner(lines)
        assert address == f"http://127.0.0.1:{port}"
        assert setup.startswith(f"{address}/setup?token=")
        health = wait_healthy(address)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "version": __version__}
