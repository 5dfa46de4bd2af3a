"""The settings object: every knob of arledger, from ``ARLEDGER_*`` variables and an optional ``.env``.

Nothing outside ``config`` reads the environment (``config.environment`` reads it for this
module and for the CLI's read commands); components take a :class:`Settings` (or call
:func:`get_settings`) so tests can build one explicitly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from config.environment import DEFAULT_DATABASE_URL, from_environment


class Settings(BaseModel):
    """Runtime configuration (the variables the README lists under "Using it").

    Each field is read from ``ARLEDGER_<FIELD>`` (any case), else from a ``.env`` file in the
    working directory, else its default; keyword arguments win over both. This is what
    pydantic-settings did, without its import cost (about 0.3 s, paid by every CLI command).
    """

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**from_environment(type(self).model_fields), **values})

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
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
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Stripe endpoint signing secret(s), comma-separated: every one is accepted (rotation).",
    )
    adyen_hmac_key: SecretStr | None = Field(
        default=None, description="Adyen HMAC key (hex) that signs every notification item."
    )
    adyen_username: str | None = Field(
        default=None, description="Basic-auth user Adyen sends with notifications (optional)."
    )
    adyen_password: SecretStr | None = Field(
        default=None, description="Basic-auth password Adyen sends with notifications."
    )
    adyen_capture: Literal["auto", "manual"] = Field(
        default="auto",
        description="auto: an AUTHORISATION is the money; manual: a CAPTURE is.",
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
    task_events: bool = Field(
        default=False,
        description="Celery task events always on (workers and senders); off: only while a monitor such as Flower asks for them.",
    )

    def stripe_secrets(self) -> list[str]:
        """Every Stripe signing secret configured (two while one is being rolled)."""
        if self.stripe_webhook_secret is None:
            return []
        listed = self.stripe_webhook_secret.get_secret_value().split(",")
        return [secret.strip() for secret in listed if secret.strip()]

    @field_validator("broker_url", mode="before")
    @classmethod
    def _empty_broker_is_none(cls, value: object) -> object:
        # docker-compose and shells often pass an empty string for "not set".
        return None if value == "" else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
