"""Configuration of arledger, read from ``ARLEDGER_*`` environment variables and ``.env`` (validated by pydantic)."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
