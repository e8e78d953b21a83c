"""Incremental ``text/event-stream`` decoder (WHATWG HTML, "event stream interpretation").

Sans-I/O: feed the response body's bytes as they arrive, get whole events back.
Runs on whichever thread calls it (the asyncio loop in voicebot); not thread-safe.

Why not httpx-sse's decoder? It was read (``httpx_sse/_decoders.py``, 0.4.3) with the
intent of reusing it as the field parser. It lives in a private module, dispatches
events that had no ``data:`` line (WHATWG drops them; here an ``id:``-only event would
reach ``json.loads``), cannot tell an empty ``data:`` from none once dispatched, and its
``int()`` takes ``retry: -1`` or ``retry: +5``, which the spec ignores. Patching around
that needs the field names parsed here anyway, so the dozen lines of field parsing are
written out against the spec instead. Its line splitter works on ``str`` and so needs
an incremental UTF-8 decoder in front; splitting bytes first is simpler, because CR
and LF never occur inside a multi-byte UTF-8 sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEDecoder"]

# One line break: CRLF, a lone CR or a lone LF. Nothing else (not U+2028, not VT/FF).
_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event. ``data`` is the ``data:`` lines joined by ``\\n``."""

    data: str
    event: str = "message"
    #: The last event ID seen on the stream so far (it persists across events).
    id: str = ""
    #: Reconnection time in milliseconds, if this event's block set one.
    retry: int | None = None


class SSEDecoder:
    """Turns event-stream bytes into :class:`SSEEvent` s.

    Call :meth:`feed` with each piece of the body in order, then :meth:`end` once
    the body is over. Pieces may split lines, CRLF pairs and UTF-8 characters
    anywhere. Lines have no length limit, and the work per feed is proportional to
    the size of that feed: a long line's earlier pieces are never rescanned.
    """

    def __init__(self) -> None:
        self._partial: list[bytes] = []   # pieces of the current unterminated line
        self._skip_lf = False             # last feed ended in CR: a leading LF is its pair
        self._first_line = True           # the BOM may only appear before the first line
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None
        self._reconnect_ms: int | None = None

    @property
    def last_event_id(self) -> str:
        """The last ``id:`` seen; send it as ``Last-Event-ID`` when reconnecting."""
        return self._last_id

    @property
    def reconnect_ms(self) -> int | None:
        """The last valid ``retry:`` value, even from a block that had no data."""
        return self._reconnect_ms

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Decode the next piece of the body; return the events it completed (maybe none)."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                if not data:
                    return []
        pieces = _EOL.split(data)
        if len(pieces) == 1:                       # no line break: keep collecting
            self._partial.append(data)
            return []
        # A CR that ends this feed may be the first half of a CRLF split across feeds.
        self._skip_lf = data[-1:] == b"\r"
        events: list[SSEEvent] = []
        if self._partial:
            self._partial.append(pieces[0])
            pieces[0] = b"".join(self._partial)
            self._partial = []
        for raw in pieces[:-1]:
            event = self._line(raw)
            if event is not None:
                events.append(event)
        if pieces[-1]:
            self._partial.append(pieces[-1])
        return events

    def end(self) -> list[SSEEvent]:
        """The body is over: return the last event if the body ended on a line break.

        WHATWG discards an event whose terminating blank line never came; this
        dispatches it anyway when the body's last byte ended a line, because servers
        that close right after ``data: ...\\n`` exist. A body that ends inside a line
        was cut: that line and its event are discarded. Afterwards the decoder is
        ready for a new body (the last event ID is kept, as WHATWG asks).
        """
        events: list[SSEEvent] = []
        if not self._partial:
            event = self._line(b"")
            if event is not None:
                events.append(event)
        self._partial = []
        self._skip_lf = False
        self._first_line = True
        self._data, self._has_data, self._event, self._retry = [], False, "", None
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if self._first_line:
            self._first_line = False
            if raw.startswith(_BOM):
                raw = raw[3:]
        if not raw:
            return self._dispatch()
        if raw[:1] == b":":                        # comment (keep-alive)
            return None
        line = raw.decode("utf-8", "replace")
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self._reconnect_ms = int(value)
        return None                                # any other field is ignored

    def _dispatch(self) -> SSEEvent | None:
        has_data, data, event_type, retry = self._has_data, self._data, self._event, self._retry
        self._data, self._has_data, self._event, self._retry = [], False, "", None
        if not has_data:
            return None
        return SSEEvent("\n".join(data), event_type or "message", self._last_id, retry)
