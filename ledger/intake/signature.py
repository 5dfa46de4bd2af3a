"""The native webhook's signature (docs/rules.md section 6).

``X-Arledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
webhook secret, compared in constant time; a timestamp more than five minutes from now is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ledger.domain.errors import ArledgerError

SIGNATURE_HEADER = "X-Arledger-Signature"
REPLAY_WINDOW_SECONDS = 300


class SignatureRefused(ArledgerError):
    """A missing, malformed, wrong or stale signature (HTTP 401). Never names the secret."""

    exit_code = 2


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value a gateway sends with ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise SignatureRefused unless ``header`` signs ``body`` with ``secret`` within the window."""
    if not header:
        raise SignatureRefused(f"missing {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    timestamps = parts.get("t", [])
    if len(timestamps) != 1 or not timestamps[0].isdigit() or len(timestamps[0]) > 12:
        raise SignatureRefused("malformed signature: t=<unix seconds> expected")
    t = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - t) > REPLAY_WINDOW_SECONDS:
        raise SignatureRefused("signature timestamp is more than 5 minutes from now")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # Any of several v1 values may match (a gateway rotating its secret sends two).
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureRefused("signature does not match")
