"""The exceptions voicebot raises. Every one derives from :class:`VoicebotError`.

Tree::

    VoicebotError
    ├── ConfigError            bad option, config file or environment value
    ├── InputError             an input the user gave cannot be used
    │   ├── InputFileError     missing/unreadable/undecodable file (names the file)
    │   ├── SSMLError          malformed or unsafe SSML
    │   └── RequestError       the local server refuses a request (4xx; carries param/code)
    ├── ProtocolError          the peer sent bytes that break the API's wire format
    ├── APIError               the server answered with an error
    │   ├── APIStatusError     non-2xx HTTP status; carries status and error.message
    │   └── APIStreamError     an ``{"error": ...}`` event in the middle of a stream
    ├── TransportError         the connection failed
    │   ├── ConnectError       the server cannot be reached
    │   ├── StallTimeout       no byte arrived for longer than the stall timeout
    │   └── StreamCut          the body ended before the stream was complete
    ├── AudioDeviceError       no such device, rate rejected, device vanished
    └── BridgeError            the websocket audio bridge failed or was misused

Messages are one line a user can act on. They never contain API keys or tokens:
code that builds a message from foreign text passes it through the
:class:`Redactor` that knows its secrets (every message also through :func:`redact`).
Foreign exceptions (httpx, sounddevice, OSError) are mapped into this tree at the
one I/O edge that meets them; callers above the edges catch ``VoicebotError`` only.
"""

from __future__ import annotations

import re

__all__ = [
    "VoicebotError",
    "ConfigError",
    "InputError",
    "InputFileError",
    "SSMLError",
    "RequestError",
    "ProtocolError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "TransportError",
    "ConnectError",
    "StallTimeout",
    "StreamCut",
    "AudioDeviceError",
    "BridgeError",
    "redact",
    "Redactor",
]


class VoicebotError(Exception):
    """Root of every error voicebot raises on purpose. ``str(err)`` is the user's line."""

    exit_code = 1
    # What the failed operation produced before it failed, for the caller to keep
    # (the session sets its partial TurnResult here); None when there is nothing.
    partial: object | None = None

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VoicebotError):
    exit_code = 2


class InputError(VoicebotError):
    exit_code = 2


class InputFileError(InputError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


class SSMLError(InputError):
    pass


class RequestError(InputError):
    """A request to the local API server cannot be served; the server answers ``status_code``.

    ``param`` names the offending request field (``messages[0].content``), ``code`` is a
    short machine-readable reason; both go into the ``{"error": ...}`` body.
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status_code: int = 400) -> None:
        self.param = param
        self.code = code
        self.status_code = status_code
        super().__init__(message)


class ProtocolError(VoicebotError):
    exit_code = 3


class APIError(VoicebotError):
    exit_code = 4

    def __init__(self, message: str, *, type: str | None = None, code: str | None = None,
                 param: str | None = None) -> None:
        self.type = type
        self.code = code
        self.param = param
        super().__init__(message)


class APIStatusError(APIError):
    def __init__(self, status_code: int, message: str, *, type: str | None = None,
                 code: str | None = None, param: str | None = None,
                 retry_after_s: float | None = None) -> None:
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        super().__init__(f"server answered {status_code}: {message}", type=type, code=code,
                         param=param)


class APIStreamError(APIError):
    def __init__(self, message: str, **kw: str | None) -> None:
        super().__init__(f"server error mid-stream: {message}", **kw)


class TransportError(VoicebotError):
    exit_code = 5


class ConnectError(TransportError):
    pass


class StallTimeout(TransportError):
    pass


class StreamCut(TransportError):
    pass


class AudioDeviceError(VoicebotError):
    exit_code = 6


class BridgeError(VoicebotError):
    exit_code = 7


_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """Return ``text`` with bearer tokens and ``sk-`` keys masked (any secret of that
    shape). Secrets of other shapes need a :class:`Redactor` that knows them."""
    text = _BEARER.sub(r"\1***", text)
    return _KEYLIKE.sub("sk-***", text)


class Redactor:
    """Masks the secrets it was told (API keys, bridge tokens), plus :func:`redact`'s
    patterns. One per owner of secrets (a command run, an HTTP client, a server):
    nothing is shared between conversations. Call it on any text that leaves the
    owner: output lines, log records, error messages built from foreign text.
    """

    def __init__(self, *secrets: str | None) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` (too short a string would mask ordinary words: ignored)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return redact(text)
