"""Does a request's ``Accept`` header admit ``text/event-stream``? Pure.

Decides what a chat request without ``stream`` gets: the spec's default (a stream) when
the client accepts an event stream — no ``Accept``, ``*/*``, ``text/*`` or
``text/event-stream`` with q > 0 — and one JSON response otherwise (OpenAI's SDKs send
``Accept: application/json`` and omit ``stream`` for a plain ``create()``).
Hand-written: RFC 9110 media-range matching is a dozen lines, and the libraries that do
it (werkzeug, python-mimeparse) would be a dependency for this one header.
"""

from __future__ import annotations

__all__ = ["accepts_event_stream"]

_TARGET = ("text", "event-stream")


def accepts_event_stream(accept: str | None) -> bool:
    """True when ``accept`` (the header's value, or None) admits ``text/event-stream``.

    The most specific matching media range decides, and q=0 means "not acceptable".
    """
    if accept is None or not accept.strip():
        return True
    best: tuple[int, float] | None = None  # (specificity, q)
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        kind, _, sub = media.lower().partition("/")
        if (kind, sub) == _TARGET:
            specificity = 2
        elif kind == "text" and sub == "*":
            specificity = 1
        elif kind == "*" and sub == "*":
            specificity = 0
        else:
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 1.0
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return best is not None and best[1] > 0
