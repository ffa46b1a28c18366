"""The `parlour` command: serve, migrate, administer, and print the data map."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Annotated, Any, TypeVar

import typer
from pydantic import EmailStr, TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from parlour import __version__
from parlour.core.errors import AppError
from parlour.core.words import plural
from parlour.settings import Settings, SettingsError

T = TypeVar("T")
app = typer.Typer(
    help="Parlour: communications that keep their privacy promises.", no_args_is_help=True
)
admin_app = typer.Typer(help="Administer organisations and accounts.", no_args_is_help=True)
privacy_app = typer.Typer(
    help="Inspect what Parlour does with personal data.", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
app.add_typer(privacy_app, name="privacy")
audit_app = typer.Typer(help="Check the tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
marketing_app = typer.Typer(help="News mail, to people who opted in only.", no_args_is_help=True)
app.add_typer(marketing_app, name="marketing")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr, never wrapped, so scripts and people can read it alike."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "PARLOUR_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise fail(f"{name}: {first['msg']}") from None


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs async work; bad settings and user errors end in one line and exit code 2."""
    try:
        return asyncio.run(work())
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except AppError as exc:
        named = next(iter(exc.fields), None)
        raise fail(f"{option_name(named)}: {exc.detail}" if named else exc.detail) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"parlour {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Parlour."""


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from parlour.db.engine import check_reachable, create_engine
    from parlour.db.migrate import upgrade
    from parlour.settings import ensure_data_dir

    settings = load_settings()

    async def work() -> None:
        ensure_data_dir(settings)
        engine = create_engine(settings.resolved_database_url)
        try:
            await check_reachable(engine)
            await upgrade(engine)
        finally:
            await engine.dispose()

    run(work)
    out.print("Database schema is up to date.")


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = (
                "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            )
            raise SettingsError("PARLOUR_PORT", f"{host}:{port} {reason}") from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (PARLOUR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (PARLOUR_PORT).")] = None,
) -> None:
    """Serve Parlour over HTTP; prints the one-time setup link on a new instance."""
    import uvicorn

    from parlour.app import create_app
    from parlour.container import build_container
    from parlour.db.migrate import pending
    from parlour.logs import configure_logging

    settings = load_settings(host=host, port=port)

    async def prepare() -> str | None:
        check_port(settings.host, settings.port)
        container = await build_container(settings)
        try:
            if await pending(container.db.engine):
                raise SettingsError(
                    "PARLOUR_DATABASE_URL", "the schema is behind: run `parlour migrate`"
                )
            return await container.orgs.setup_link()
        finally:
            await container.close()

    setup = run(prepare)
    configure_logging(settings.log_level, settings.log_json)
    out.print(f"Parlour {__version__} is serving at [bold]{settings.base_url}[/]", highlight=False)
    if setup:
        out.print("Open this one-time link to create the first organisation and its owner:")
        out.print(f"  [bold]{setup}[/]", highlight=False, soft_wrap=True)
    if settings.dev_outbox:
        out.print(
            f"Mail goes to the development outbox: {settings.base_url}/admin/outbox",
            highlight=False,
        )
    sys.stdout.flush()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run the jobs that are due, then exit.")] = False,
) -> None:
    """Run durable jobs (exports, erasures, retention) in this process until stopped."""
    from parlour.container import build_container
    from parlour.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)

    async def work() -> int:
        container = await build_container(settings)
        try:
            if once:
                return await container.jobs.run_due()
            out.print(f"Parlour worker {container.jobs.owner[:8]} is running jobs.")
            sys.stdout.flush()
            await container.jobs.serve()
            return 0
        finally:
            await container.close()

    try:
        ran = run(work)
    except KeyboardInterrupt:
        return
    if once:
        out.print(f"Ran {plural(ran, 'job')}.")


def _container_call(work: Callable[[Any], Awaitable[T]]) -> T:
    from parlour.container import build_container

    settings = load_settings()

    async def wrapped() -> T:
        container = await build_container(settings)
        try:
            return await work(container)
        finally:
            await container.close()

    return run(wrapped)


@admin_app.command("create-org")
def create_org(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    min_age: Annotated[int, typer.Option(help="Minimum age of its members: 16 to 18.")] = 16,
    owner_email: Annotated[str | None, typer.Option(help="Send the owner invitation here.")] = None,
) -> None:
    """Create an organisation and print the link that makes its first owner."""

    async def work(c: Any) -> tuple[Any, str]:
        org = await c.orgs.create_org_operator(name, min_age)
        link = await c.orgs.owner_invitation_operator(org.id, owner_email)
        return org, link

    org, link = _container_call(work)
    out.print(f"Created organisation {org.name} ({org.id}).", highlight=False)
    out.print(f"Owner invitation: {link}", highlight=False, soft_wrap=True)


def checked_email(value: str) -> str:
    """The same email check as the sign-up form."""
    try:
        return str(TypeAdapter(EmailStr).validate_python(value))
    except ValidationError:
        raise fail("--email: not a valid email address") from None


@admin_app.command("create-user")
def create_user(
    org_id: Annotated[str, typer.Option(help="The organisation's id.")],
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    birth_date: Annotated[
        str, typer.Option(help="YYYY-MM-DD; checked against the minimum age, not stored.")
    ],
    role: Annotated[str, typer.Option(help="owner, admin or member.")] = "member",
    password: Annotated[
        str | None, typer.Option(help="Prompted for when omitted.", hide_input=True)
    ] = None,
) -> None:
    """Create an account with the same checks as sign-up."""
    from parlour.features.accounts.service import NewAccount

    if role not in ("owner", "admin", "member"):
        raise fail("--role: must be owner, admin or member")
    email = checked_email(email)
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        raise fail("--birth-date: use the form YYYY-MM-DD") from None
    secret = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    # The operator cannot accept the privacy policy for someone else: the person does, later.
    form = NewAccount(name, email, secret, born, accept_policy=None)

    async def work(c: Any) -> Any:
        return await c.orgs.create_user(org_id, form, role)

    user = _container_call(work)
    out.print(f"Created {user.email} ({user.id}) as {user.role}.", highlight=False)


@admin_app.command("reset-password")
def reset_password(email: Annotated[str, typer.Argument(help="The account's email.")]) -> None:
    """Disable the password and print a one-time reset link (also mailed to the user)."""

    async def work(c: Any) -> str:
        link: str = await c.orgs.operator_reset_link(email)
        return link

    link = _container_call(work)
    out.print("The old password no longer works. Reset link (single use):")
    out.print(link, highlight=False, soft_wrap=True)


@privacy_app.command("datamap")
def datamap(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (as --format json).")] = False,
    output: Annotated[
        str, typer.Option("--format", help="table (for people) or json (for programs).")
    ] = "table",
) -> None:
    """Print every column: what personal data it holds, why, for how long, and how it is erased."""
    from parlour.db.models import Base
    from parlour.features.privacy.datamap import entries

    if output not in ("table", "json"):
        raise fail("--format: use table or json")
    rows = [e.as_dict() for e in entries(Base.metadata)]
    if as_json or output == "json":
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Parlour data map", show_lines=False)
    for heading in ("table.column", "category", "purposes (basis)", "retention", "erasure"):
        table.add_column(heading)
    for row in rows:
        if row["personal"]:
            purposes = ", ".join(f"{p['key']} ({p['legal_basis']})" for p in row["purposes"])
            table.add_row(
                f"{row['table']}.{row['column']}",
                row["category"],
                purposes,
                row["retention"],
                row["erasure"],
            )
        else:
            table.add_row(
                f"{row['table']}.{row['column']}",
                "[dim]not personal[/]",
                f"[dim]{row['reason']}[/]",
                "",
                "",
            )
    # Piped output gets room for the whole table rather than a terminal's 80 columns.
    (out if out.is_terminal else Console(width=200)).print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every entry of the audit log's hash chain; exit 1 naming the first bad entry."""

    async def work(c: Any) -> Any:
        return await c.audit.verify()

    result = _container_call(work)
    if result.broken is not None:
        raise fail(f"{result.broken} (checked {result.checked} entries)", code=1)
    out.print(f"The audit log holds: {result.checked} entries, head {result.head}.")


@marketing_app.command("send")
def marketing_send(
    subject: Annotated[str, typer.Option(help="The mail's subject, one line.")],
    body_file: Annotated[
        typer.FileText, typer.Option("--body-file", help="Plain-text body; - reads stdin.")
    ],
) -> None:
    """Queue a news mail for everyone who agreed to news; each mail can unsubscribe in one click."""
    body = body_file.read()

    async def work(c: Any) -> Any:
        return await c.marketing.send(subject, body)

    sent = _container_call(work)
    out.print(f"Queued {sent.queued} mails; {sent.skipped} people have not agreed to news.")


def main() -> None:
    app()
