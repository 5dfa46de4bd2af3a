"""The settings object: every knob of arledger, from ``ARLEDGER_*`` variables and an optional ``.env``.

Nothing else in the project reads the environment; components take a :class:`Settings` (or call
:func:`get_settings`) so tests can build one explicitly.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration (SPEC section 1)."""

    model_config = SettingsConfigDict(env_prefix="ARLEDGER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///arledger.db",
        description="SQLAlchemy URL; postgresql:// URLs are driven through psycopg 3.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker; unset means tasks run in-process, synchronously.",
    )
    gl_sink: str = Field(
        default="gl-journals.jsonl",
        description="Where published journals go: a path or file:// URL, or redis://… for a stream.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of the gateway webhook; the ingress needs it."
    )
    default_currency: str = Field(
        default="USD", description="Currency of a receipt that names no order and no currency."
    )
    default_org_unit: str | None = Field(
        default=None,
        description="Org unit of a receipt with no order, when more than one org unit exists.",
    )

    sweep_grace_seconds: float = Field(
        default=60.0,
        description="Intake still unprocessed this long after it was persisted is re-enqueued by the sweep.",
    )
    batch_size: int = Field(
        default=500, ge=1, le=5000, description="Receipts per distribution task (lockbox fan-out)."
    )
    worker_concurrency: int = Field(
        default=2, ge=1, description="Default `arledger worker` processes."
    )

    @field_validator("broker_url", mode="before")
    @classmethod
    def _empty_broker_is_none(cls, value: object) -> object:
        # docker-compose and shells often pass an empty string for "not set".
        return None if value == "" else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
