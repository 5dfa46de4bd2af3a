"""Configuration of arledger, read from ``ARLEDGER_*`` environment variables (pydantic-settings)."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
