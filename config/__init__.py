"""Configuration of arledger, read from ``ARLEDGER_*`` environment variables and ``.env``.

``config.settings.Settings`` is every knob, validated by pydantic; ``config.environment`` reads
the variables without pydantic (the CLI's read commands take their database URL from it). Neither
is imported here, so that importing one does not import the other.
"""
