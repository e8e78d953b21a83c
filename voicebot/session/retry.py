"""When to retry a chat-completions request and how long to wait first. Pure.

The rules are the ones the official SDKs follow (see the field notes): retry 408,
409, 429 and every 5xx unless the server says ``x-should-retry: false``; wait what
``retry-after-ms`` says, else ``Retry-After`` (seconds or an HTTP date) when that
wait is in (0, 60] s, else a bounded exponential back-off with jitter.

Nothing here reads a clock or a random source: the HTTP edge passes ``now_epoch_s``
(wall-clock seconds, only needed for the HTTP-date form) and ``jitter`` in [0, 1).
Whether the body has started is the edge's business: once it has, nothing retries.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

__all__ = [
    "RETRYABLE_STATUS",
    "INITIAL_BACKOFF_S",
    "MAX_BACKOFF_S",
    "MAX_HONOURED_WAIT_S",
    "should_retry_status",
    "server_wait_s",
    "backoff_s",
    "retry_delay_s",
]

RETRYABLE_STATUS = frozenset({408, 409, 429})
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
# A server asking for more than this is usually saying "quota gone for the hour":
# waiting that long in a voice turn is worse than failing, so fall back to back-off.
MAX_HONOURED_WAIT_S = 60.0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # httpx.Headers is case-insensitive already; plain dicts from tests may not be.
    value = headers.get(name)
    if value is None:
        for key, item in headers.items():
            if key.lower() == name:
                return item
    return value


def should_retry_status(status_code: int, headers: Mapping[str, str]) -> bool:
    """True when a response with ``status_code`` and ``headers`` may be retried.

    ``x-should-retry`` wins over the status table in both directions.
    """
    hint = (_header(headers, "x-should-retry") or "").strip().lower()
    if hint == "true":
        return True
    if hint == "false":
        return False
    return status_code in RETRYABLE_STATUS or status_code >= 500


def server_wait_s(headers: Mapping[str, str], now_epoch_s: float) -> float | None:
    """The wait the server asked for, in seconds, or None when absent or unusable.

    ``retry-after-ms`` is read first, then ``Retry-After`` as a number of seconds,
    then as an HTTP date relative to ``now_epoch_s``. A wait outside (0, 60] s is
    returned as None so the caller backs off on its own schedule instead.
    """
    wait: float | None = None
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        wait = _parse_float(ms)
        if wait is not None:
            wait /= 1000.0
    if wait is None:
        value = _header(headers, "retry-after")
        if value is not None:
            wait = _parse_float(value)
            if wait is None:
                wait = _parse_http_date(value, now_epoch_s)
    if wait is None or not 0.0 < wait <= MAX_HONOURED_WAIT_S:
        return None
    return wait


def backoff_s(retry_index: int, jitter: float) -> float:
    """Exponential back-off for the ``retry_index``-th retry (0 = first), with jitter.

    ``jitter`` in [0, 1) shortens the wait by up to 25 % so that clients that failed
    together do not come back together.
    """
    base = min(INITIAL_BACKOFF_S * (2.0 ** retry_index), MAX_BACKOFF_S)
    return base * (1.0 - 0.25 * jitter)


def retry_delay_s(retry_index: int, headers: Mapping[str, str], *, now_epoch_s: float,
                  jitter: float) -> float:
    """How long to sleep before the ``retry_index``-th retry (server's wish or back-off)."""
    wait = server_wait_s(headers, now_epoch_s)
    return wait if wait is not None else backoff_s(retry_index, jitter)


def _parse_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value else None  # NaN is not a wait


def _parse_http_date(text: str, now_epoch_s: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return when.timestamp() - now_epoch_s
