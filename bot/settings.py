"""Process settings: ``SHUNTER_*`` environment variables and an optional ``.env`` file.

Settings describe the installation (where GitHub, Redis and the database are); repository
behaviour lives in ``.github/shunter.yml`` (see ``bot.policies``). A bad setting stops
start-up with one line naming the setting, produced by :func:`load_settings`.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import SettingsError

PUBLIC_GITHUB_API = "https://api.github.com"
_REDIS_SCHEMES = {"redis", "rediss", "unix"}
ENV_FILE = ".env"


def default_data_dir() -> Path:
    """Where state lives with no setting: ``$XDG_DATA_HOME/shunter`` or ``~/.local/share``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shunter"


class Settings(BaseSettings):
    """Every setting Shunter reads. The README's configuration reference mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="SHUNTER_", env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )

    app_id: int | None = Field(default=None, gt=0, description="The GitHub App's numeric id.")
    private_key: SecretStr | None = Field(
        default=None, description="The App's private key (PEM text)."
    )
    private_key_path: Path | None = Field(
        default=None, description="Path to the App's private key PEM file."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="The secret GitHub signs webhook deliveries with."
    )
    github_url: str = Field(
        default=PUBLIC_GITHUB_API,
        description=(
            "REST API root: github.com, GHES (https://HOST/api/v3), GHE.com "
            "(https://api.SUBDOMAIN.ghe.com) or the simulator."
        ),
    )
    redis_url: str | None = Field(
        default=None, description="redis://, rediss:// or unix:// URL; unset starts an embedded Valkey."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://...); unset uses SQLite."
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="State directory.")
    host: str = Field(default="127.0.0.1", description="Address `shunter serve` binds.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `shunter serve` binds.")
    public_url: str | None = Field(
        default=None, description="Public base URL of the web app, for check-run details links."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    mutation_interval: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Seconds between mutating GitHub requests per installation.",
    )
    progress_after: float = Field(
        default=2.0,
        ge=0,
        le=600,
        description=(
            "Seconds a stage runs before its check run is marked in_progress; faster stages "
            "go from queued straight to completed (0: mark every start at once)."
        ),
    )
    summary_patience: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description=(
            "Seconds after a push's first stage concluded before the summary comment is "
            "written even though other stages still run (it is written once they all end)."
        ),
    )
    redeliver_every: float = Field(
        default=600,
        ge=0,
        le=86400,
        description=(
            "Seconds between sweeps that ask GitHub to redeliver webhook deliveries that "
            "failed and were never stored (0: no sweeps; `shunter redeliver` still works)."
        ),
    )
    redeliver_within_hours: float = Field(
        default=24,
        gt=0,
        le=72,
        description="How far back the first sweep looks for failed deliveries (GitHub keeps 72 h).",
    )
    # unbounded above: "inf" would pass ``gt=0`` and overflow where days or bytes are computed
    mirror_max_age_days: float = Field(
        default=30,
        gt=0,
        allow_inf_nan=False,
        description="Git mirrors and the merge worker's repositories unused this long are deleted.",
    )
    mirror_max_gb: float = Field(
        default=20,
        gt=0,
        allow_inf_nan=False,
        description=(
            "Mirrors and the merge worker's repositories are deleted, least recently used "
            "first, above this."
        ),
    )
    retention_days: float = Field(
        default=90,
        ge=0,
        allow_inf_nan=False,
        description=(
            "Ended runs (with their steps) and processed-command records older than this many "
            "days are deleted, hourly (0: keep everything). The audit log is always kept."
        ),
    )
    outbound_urls: str = Field(
        default="",
        description=(
            "URL prefixes, comma-separated, that a repository's llm.base_url and "
            "stages.security.osv_url may name besides the public services Shunter knows "
            "(api.openai.com, api.anthropic.com, api.osv.dev)."
        ),
    )
    llm_keys: str = Field(
        default="SHUNTER_LLM_API_KEY",
        description=(
            "Environment variables a repository's llm.api_key_env may name, comma-separated, "
            "each as NAME (its key goes only to the provider's own API) or NAME=BASE_URL (only "
            "to that server). Shunter's own secrets are never sent, whatever this says."
        ),
    )
    bot_login: str | None = Field(
        default=None,
        description="The App's bot login (e.g. shunter[bot]); events it sends are ignored.",
    )
    sandbox_bwrap: str | None = Field(
        default=None, description="The bubblewrap binary; unset, `bwrap` on PATH."
    )
    sandbox_cache: Path | None = Field(
        default=None,
        description="Cached per-repository test environments; unset, DATA_DIR/sandbox-venvs.",
    )
    sandbox_uid: int | None = Field(
        default=None,
        gt=0,
        description="The uid sandboxed code runs as when the worker is root; unset, 65534.",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Where stages write the files analyzers read; unset, /dev/shm or the temp dir.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("github_url", "public_url", "redis_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The value is not repeated here: _describe echoes it once, without its password.
        if value is None:
            return None
        value = value.rstrip("/")
        parsed = urlparse(value)
        if not parsed.scheme or not (parsed.netloc or parsed.path):
            raise ValueError("not a URL")
        if info.field_name == "redis_url" and parsed.scheme not in _REDIS_SCHEMES:
            # Any other scheme (``localhost:6379`` parses as scheme "localhost") would pass
            # here and crash start-up later with a traceback from the redis client.
            raise ValueError("not a Redis URL: use redis://, rediss:// or unix://")
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: float) -> float:
        # Processed-command records stop a redelivered webhook (GitHub redelivers up to
        # three days back) from running a command twice: they must outlive that window.
        if 0 < value < 4:
            raise ValueError("must be 0 (keep everything) or at least 4 days")
        return value

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "PRIVATE KEY-----" not in value.get_secret_value():
            raise ValueError("is not PEM text (expected '-----BEGIN ... PRIVATE KEY-----')")
        return value

    @cached_property
    def private_key_pem(self) -> str | None:
        """The App key from ``private_key`` or ``private_key_path``; None when neither is set."""
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_path is None:
            return None
        try:
            text = self.private_key_path.read_text()
        except OSError as exc:
            raise SettingsError(
                "SHUNTER_PRIVATE_KEY_PATH", f"cannot read {self.private_key_path}: {exc.strerror}"
            ) from None
        if "PRIVATE KEY-----" not in text:
            raise SettingsError(
                "SHUNTER_PRIVATE_KEY_PATH", f"{self.private_key_path} does not hold a PEM key"
            )
        return text

    @property
    def has_app_credentials(self) -> bool:
        return self.app_id is not None and (
            self.private_key is not None or self.private_key_path is not None
        )

    def require_app_credentials(self) -> tuple[int, str]:
        """App id and key, or a SettingsError naming what is missing (calls to GitHub need it)."""
        if self.app_id is None:
            raise SettingsError("SHUNTER_APP_ID", "is not set; it is needed to call GitHub")
        pem = self.private_key_pem
        if pem is None:
            raise SettingsError(
                "SHUNTER_PRIVATE_KEY",
                "neither it nor SHUNTER_PRIVATE_KEY_PATH is set; it is needed to call GitHub",
            )
        return self.app_id, pem

    def require_webhook_secret(self) -> str:
        if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
            raise SettingsError(
                "SHUNTER_WEBHOOK_SECRET",
                "is not set; deliveries cannot be verified without it",
                hint="use the secret you entered in the GitHub App's webhook settings",
            )
        return self.webhook_secret.get_secret_value()

    @property
    def sqlite_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'shunter.sqlite3'}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_url


def _describe(error: dict[str, object]) -> tuple[str, str]:
    loc = error.get("loc") or ("?",)
    field = str(loc[0]) if isinstance(loc, tuple | list) else str(loc)
    name = f"SHUNTER_{field.upper()}"
    msg = str(error.get("msg", "is invalid"))
    msg = msg.removeprefix("Value error, ")
    value = error.get("input")
    if field in {"private_key", "webhook_secret"}:
        return name, msg  # never echo secrets
    if isinstance(value, str) and field.endswith("_url"):
        value = _mask_url_password(value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return name, f"{msg} (got {value!r})"
    return name, msg


def _mask_url_password(value: str) -> str:
    """``value`` with the password of its ``user:password@`` part replaced by ``***``.

    Error lines end up in logs and terminals; a Redis or database URL often carries its
    password. Works on malformed URLs too (``redis//:pw@host``), since those are exactly
    the ones that get echoed. A user part without a colon may itself be a token: masked.
    """
    at = value.rfind("@")
    if at < 0:
        return value
    head, tail = value[:at], value[at:]
    start = head.find("//")
    start = start + 2 if start >= 0 else 0
    userinfo = head[start:]
    colon = userinfo.find(":")
    kept = userinfo[: colon + 1] if colon >= 0 else ""
    return f"{head[:start]}{kept}***{tail}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into a SettingsError.

    A ``.env`` that is not UTF-8 (saved by an editor in another encoding) or cannot be
    read is a bad setting too: it stops start-up with one line naming the file.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        setting, problem = _describe(exc.errors()[0])  # type: ignore[arg-type]
        raise SettingsError(setting, problem) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            ENV_FILE,
            f"is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
            hint=f"save {Path.cwd() / ENV_FILE} as UTF-8",
        ) from None
    except OSError as exc:
        raise SettingsError(ENV_FILE, f"cannot be read: {exc.strerror or exc}") from None
    for name, field in ENVIRONMENT_SETTINGS.items():
        value = getattr(settings, field)
        if field not in overrides and field in settings.model_fields_set and value is not None:
            os.environ.setdefault(name, str(value))
    return settings


# Settings read where the process's environment is all the code sees (a stage is a pure
# function and holds no Settings; the sandbox and scratch dirs are leaves that import no
# settings): a value from .env reaches them through here. Only values the environment or
# .env set are passed on; the code's own defaults are the same as the settings'.
ENVIRONMENT_SETTINGS = {
    "SHUNTER_OUTBOUND_URLS": "outbound_urls",
    "SHUNTER_LLM_KEYS": "llm_keys",
    "SHUNTER_DATA_DIR": "data_dir",
    "SHUNTER_SANDBOX_BWRAP": "sandbox_bwrap",
    "SHUNTER_SANDBOX_CACHE": "sandbox_cache",
    "SHUNTER_SANDBOX_UID": "sandbox_uid",
    "SHUNTER_SCRATCH_DIR": "scratch_dir",
}
