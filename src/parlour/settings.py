"""One typed settings model, read from PARLOUR_* environment variables; fails fast."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting that cannot work. The message names the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class SubProcessor(BaseModel):
    """A company that processes personal data on the operator's behalf, named in the policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    region: str = Field(min_length=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLOUR_", extra="forbid", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite in the data folder."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        description=(
            "The address users open; defaults to http://host:port. Passkeys are bound to its "
            "host name."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Signs cookies and tokens and encrypts authenticator secrets; generated into the "
            "data folder."
        ),
    )
    log_level: str = "INFO"
    log_json: bool = True

    default_min_age: int = Field(default=16, ge=16, le=18)
    session_days: int = Field(default=30, ge=1, le=365)
    reset_link_minutes: int = Field(default=30, ge=5, le=1440)
    invitation_days: int = Field(default=7, ge=1, le=90)
    signin_max_failures_per_account: int = Field(default=5, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_window_minutes: int = Field(default=15, ge=1)
    avatar_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    consent_days: int = Field(
        default=180, ge=1, le=395, description="How long a cookie choice lasts before we ask again."
    )
    password_time_cost: int = Field(default=3, ge=1)
    password_memory_cost: int = Field(default=65536, ge=8)

    api_key_rate_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="Requests one API key may make per minute before a 429.",
    )

    redis_url: str | None = Field(
        default=None, description="Redis for fan-out across processes; in-process when unset."
    )
    stream_queue: int = Field(
        default=1000, ge=10, le=100_000, description="Events buffered per stream connection."
    )
    stream_heartbeat_seconds: float = Field(
        default=25.0, gt=0, le=300, description="Idle time before a stream heartbeat."
    )

    call_ring_seconds: int = Field(
        default=45, ge=5, le=300, description="How long a call rings before it counts as missed."
    )
    call_leg_timeout_seconds: int = Field(
        default=30,
        ge=3,
        le=600,
        description="How long a call participant's connection may be gone before they are "
        "taken out of the call (reason 'network').",
    )
    call_mesh_limit: int = Field(
        default=4, ge=2, le=8, description="Largest call sent browser to browser without an SFU."
    )
    sfu_url: str | None = Field(
        default=None, description="Janus' HTTP API (…/janus) for calls larger than a mesh."
    )
    call_sfu_limit: int = Field(
        default=50, ge=2, le=500, description="Largest call carried through the SFU."
    )
    ice_stun_urls: list[str] = Field(
        default_factory=list, description="STUN servers handed to browsers (JSON list)."
    )
    ice_turn_urls: list[str] = Field(
        default_factory=list, description="TURN servers (coturn with a shared secret; JSON list)."
    )
    turn_secret: SecretStr | None = Field(
        default=None, description="coturn's static-auth-secret, to mint TURN credentials."
    )
    turn_credential_seconds: int = Field(
        default=3600, ge=60, le=86400, description="How long minted TURN credentials last."
    )

    sso_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long Parlour waits for an organisation's identity provider.",
    )

    worker_in_process: bool = Field(
        default=True, description="Run durable jobs inside `parlour serve` (off: `parlour worker`)."
    )
    job_poll_seconds: float = Field(
        default=2.0, gt=0, le=60, description="How often a worker looks for due jobs."
    )
    job_lease_seconds: int = Field(
        default=300, ge=10, le=3600, description="How long a silent worker keeps a job."
    )
    export_days: int = Field(
        default=7, ge=1, le=90, description="How long a data export can be downloaded."
    )
    erasure_hours: int = Field(
        default=24, ge=1, le=720, description="Time within which an account erasure completes."
    )
    privacy_contact_email: str | None = Field(
        default=None, description="Handles privacy requests from people without an account."
    )
    dpo_name: str | None = Field(default=None, description="The data protection officer's name.")
    dpo_email: str | None = Field(default=None, description="The data protection officer's email.")

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "Parlour <parlour@localhost>"

    webhook_allow_http: bool = Field(
        default=False, description="Accept http:// webhook URLs (development and tests only)."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Send webhooks to loopback and private addresses (development and tests).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long one webhook attempt may take."
    )

    data_region: str | None = Field(
        default=None, description="Where the data is kept, as the privacy policy states it."
    )
    sub_processors: list[SubProcessor] = Field(
        default_factory=list,
        description="Who processes data for the operator: JSON list of {name, purpose, region}.",
    )

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'parlour.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def dev_outbox(self) -> bool:
        """Without SMTP in development, mail lands in an outbox the operator can read."""
        return self.smtp_host is None


def ensure_data_dir(settings: Settings) -> Path:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-check"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise SettingsError("PARLOUR_DATA_DIR", f"cannot write to {path} ({exc.strerror})") from exc
    return path


def resolve_secret_key(settings: Settings) -> bytes:
    """The given secret, or one generated once into the data folder. Never a default."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 32:
            raise SettingsError("PARLOUR_SECRET_KEY", "must be at least 32 characters")
        return value.encode()
    path = ensure_data_dir(settings) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()
