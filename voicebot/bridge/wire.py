"""The ``/ws`` wire format, sans-I/O: client messages in, server messages out. Pure.

A connection's first message is a text ``hello``; then binary frames of PCM16 LE
mono at the announced rate (10 to 200 ms each) and text messages::

    {"type": "hello", "token": "…", "sample_rate": 16000, "voice": "…"}
    {"type": "text", "text": "…"}          a typed turn
    {"type": "interrupt"}                  stop the reply now
    {"type": "played", "samples": N}       reply samples (24 kHz) played so far, counted
                                           over the whole connection; audio dropped
                                           after an ``interrupted`` event counts as played
    {"type": "bye"}                        no more input: finish the reply, then close

The server answers ``ready`` and then sends the reply audio as binary frames
(PCM16 LE mono 24 kHz, the upstream's samples unchanged) and the turn-taking
core's event records as text, exactly as ``voicebot chat --json`` prints them.

Nothing here does I/O, reads a clock or imports an I/O library; the connection
edge (``voicebot.bridge.ws``) feeds it what arrived and sends what it returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from ..errors import BridgeError

__all__ = [
    "Hello", "TypedTurn", "Interrupt", "Played", "Bye", "ClientMessage", "WireError",
    "parse_hello", "parse_client_text", "frame_error", "frame_bytes_bounds",
    "ready_message", "record_message", "MIN_SAMPLE_RATE", "MAX_SAMPLE_RATE",
    "MIN_FRAME_MS", "MAX_FRAME_MS", "MAX_MESSAGE_BYTES", "MAX_TYPED_CHARS",
    "OUTPUT_SAMPLE_RATE", "CLOSE_NORMAL", "CLOSE_GOING_AWAY", "CLOSE_POLICY",
    "CLOSE_TOO_BIG", "CLOSE_TRY_AGAIN",
]

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000
MIN_FRAME_MS = 10
MAX_FRAME_MS = 200
#: The largest message the bridge reads: a 200 ms frame at 48 kHz is 19,200 bytes;
#: a typed turn of MAX_TYPED_CHARS characters fits too. Larger ones close with 1009.
MAX_MESSAGE_BYTES = 32 * 1024
MAX_TYPED_CHARS = 4_000
_MAX_VOICE_CHARS = 64
_MAX_TOKEN_CHARS = 512
#: The reply audio: the API's PCM16 mono rate, passed on unchanged.
OUTPUT_SAMPLE_RATE = 24_000

# Close codes (RFC 6455 section 7.4.1; 1013 from the IANA registry).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013


class WireError(BridgeError):
    """A client message breaks the protocol; ``str()`` is the line to send back.

    Before ``hello`` the connection is closed with ``close_code``; afterwards the
    message becomes an ``error`` event and the session goes on.
    """

    def __init__(self, message: str, close_code: int = CLOSE_POLICY) -> None:
        super().__init__(message)
        self.close_code = close_code


@dataclass(frozen=True)
class Hello:
    token: str | None
    sample_rate: int
    voice: str | None = None

    def __repr__(self) -> str:  # the token is a secret: never in a repr or a log line
        return f"Hello(sample_rate={self.sample_rate}, voice={self.voice!r})"


@dataclass(frozen=True)
class TypedTurn:
    text: str


@dataclass(frozen=True)
class Interrupt:
    pass


@dataclass(frozen=True)
class Played:
    """Reply samples (24 kHz) the client has played since the connection started."""
    samples: int


@dataclass(frozen=True)
class Bye:
    pass


ClientMessage = Union[Hello, TypedTurn, Interrupt, Played, Bye]


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise WireError(f"not JSON: {_excerpt(text)}") from None
    except RecursionError:  # a deeply nested array: no message of ours is like that
        raise WireError("not a protocol message: nested too deeply") from None
    if not isinstance(value, dict):
        raise WireError(f"not a JSON object: {_excerpt(text)}")
    return value


def _excerpt(text: str, limit: int = 40) -> str:
    """A short, printable piece of foreign text for an error line."""
    flat = " ".join(text.split())
    shown = flat if len(flat) <= limit else flat[:limit] + "…"
    return json.dumps(shown, ensure_ascii=True)


def _int_field(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{obj.get('type')}: {name} must be an integer")
    return value


def _str_field(obj: Mapping[str, Any], name: str, limit: int, *,
               required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise WireError(f"{obj.get('type')}: {name} must be a string")
    if len(value) > limit:
        raise WireError(f"{obj.get('type')}: {name} is longer than {limit} characters")
    return value


def parse_hello(text: str) -> Hello:
    """The first message. Raises :class:`WireError` (close the connection with 1008)."""
    obj = _object(text)
    if obj.get("type") != "hello":
        raise WireError("the first message must be a hello")
    rate = _int_field(obj, "sample_rate")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise WireError(f"hello: sample_rate {rate} is outside "
                        f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return Hello(token=_str_field(obj, "token", _MAX_TOKEN_CHARS),
                 sample_rate=rate, voice=_str_field(obj, "voice", _MAX_VOICE_CHARS) or None)


def parse_client_text(text: str) -> ClientMessage:
    """A text message after ``hello``. Raises :class:`WireError` naming what is wrong
    (send it as an ``error`` event; the session goes on). Unknown fields are ignored."""
    obj = _object(text)
    kind = obj.get("type")
    if kind == "text":
        typed = _str_field(obj, "text", MAX_TYPED_CHARS, required=True)
        if not typed or not typed.strip():
            raise WireError("text: text is empty")
        return TypedTurn(typed)
    if kind == "interrupt":
        return Interrupt()
    if kind == "played":
        samples = _int_field(obj, "samples")
        if samples < 0:
            raise WireError("played: samples must be >= 0")
        return Played(samples)
    if kind == "bye":
        return Bye()
    if kind == "hello":
        raise WireError("hello: already received")
    if not isinstance(kind, str):
        raise WireError("message has no type")
    raise WireError(f"unknown message type {_excerpt(kind)}")


def frame_bytes_bounds(sample_rate: int) -> tuple[int, int]:
    """Smallest and largest binary frame (bytes) at ``sample_rate``: 10 and 200 ms."""
    return (sample_rate * MIN_FRAME_MS // 1000 * 2, sample_rate * MAX_FRAME_MS // 1000 * 2)


def frame_error(nbytes: int, sample_rate: int) -> str | None:
    """Why a binary frame of ``nbytes`` is refused (None: it is fine). A refused frame
    is dropped and reported as an ``error`` event; the session goes on."""
    low, high = frame_bytes_bounds(sample_rate)
    if nbytes % 2:
        return f"audio frame of {nbytes} bytes is not whole 16-bit samples"
    if not low <= nbytes <= high:
        return (f"audio frame of {nbytes} bytes is not {MIN_FRAME_MS}-{MAX_FRAME_MS} ms "
                f"of PCM16 at {sample_rate} Hz ({low}-{high} bytes)")
    return None


def ready_message(session: str, input_sample_rate: int) -> str:
    return json.dumps({"type": "ready", "session": session,
                       "input": {"format": "pcm16", "sample_rate": input_sample_rate},
                       "output": {"format": "pcm16", "sample_rate": OUTPUT_SAMPLE_RATE}})


def record_message(record: Mapping[str, Any]) -> str:
    """An event record (``Event.to_dict()``) as the text message the client gets."""
    return json.dumps(record, ensure_ascii=False, default=str)
