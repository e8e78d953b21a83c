"""Twilio Media Streams and its webhook, sans-I/O: messages, TwiML, signatures. Pure.

A bidirectional Media Stream is JSON text frames only. From Twilio: ``connected``,
``start`` (``streamSid``, ``callSid``, ``customParameters``, ``mediaFormat``: µ-law
8000 Hz mono), ``media`` (base64 µ-law, 20 ms), ``dtmf``, ``mark`` (the echo of one
of ours once the audio before it has played, or was cleared), ``stop``. To Twilio:
``media``, ``mark``, ``clear`` (drop the audio it has buffered: barge-in).

The call is set up by the voice webhook (a form POST) answered with TwiML that
connects the call to our ``/twilio`` websocket and hands it a per-call token
(:func:`call_token`), which comes back in ``start.customParameters``. Requests are
signed by Twilio (``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted form
fields, base64, keyed with the account's auth token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from xml.sax.saxutils import quoteattr

from .wire import WireError

__all__ = [
    "Connected", "Start", "Media", "Dtmf", "Mark", "Stop", "TwilioMessage",
    "parse_twilio", "media_message", "mark_message", "clear_message", "twiml",
    "signature", "signature_ok", "call_token", "call_token_ok", "TWILIO_SAMPLE_RATE",
]

TWILIO_SAMPLE_RATE = 8_000
#: The largest µ-law payload taken in one media message (Twilio sends 20 ms: 160 bytes).
MAX_MEDIA_BYTES = 1_600


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = TWILIO_SAMPLE_RATE
    channels: int = 1

    def __repr__(self) -> str:  # customParameters carry the call's token
        return f"Start(stream_sid={self.stream_sid!r}, call_sid={self.call_sid!r})"


@dataclass(frozen=True)
class Media:
    payload: bytes  # µ-law
    track: str = "inbound"


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Stop:
    pass


TwilioMessage = Union[Connected, Start, Media, Dtmf, Mark, Stop]


def _str(obj: Mapping[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise WireError(f"{where}: {name} must be a non-empty string")
    return value


def _obj(obj: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise WireError(f"{where}: {name} must be an object")
    return value


def parse_twilio(text: str) -> TwilioMessage:
    """One text frame from Twilio. Raises :class:`WireError` naming what is wrong."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise WireError("twilio: not JSON") from None
    if not isinstance(obj, dict):
        raise WireError("twilio: not a JSON object")
    event = obj.get("event")
    if event == "connected":
        return Connected()
    if event == "start":
        start = _obj(obj, "start", "start")
        fmt = start.get("mediaFormat") or {}
        params = start.get("customParameters") or {}
        if not isinstance(fmt, dict) or not isinstance(params, dict):
            raise WireError("start: mediaFormat and customParameters must be objects")
        rate = fmt.get("sampleRate", TWILIO_SAMPLE_RATE)
        channels = fmt.get("channels", 1)
        encoding = fmt.get("encoding", "audio/x-mulaw")
        if (encoding, rate, channels) != ("audio/x-mulaw", TWILIO_SAMPLE_RATE, 1):
            raise WireError(f"start: media format {encoding} {rate} Hz × {channels} is not "
                            "µ-law 8000 Hz mono")
        return Start(stream_sid=_str(obj, "streamSid", "start") if "streamSid" in obj
                     else _str(start, "streamSid", "start"),
                     call_sid=_str(start, "callSid", "start"),
                     custom_parameters={str(k): str(v) for k, v in params.items()})
    if event == "media":
        media = _obj(obj, "media", "media")
        payload = media.get("payload")
        if not isinstance(payload, str) or len(payload) > MAX_MEDIA_BYTES * 4 // 3 + 4:
            raise WireError("media: payload must be base64 of at most "
                            f"{MAX_MEDIA_BYTES} bytes")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise WireError("media: payload is not base64") from None
        track = media.get("track", "inbound")
        return Media(data, track if isinstance(track, str) else "inbound")
    if event == "dtmf":
        return Dtmf(_str(_obj(obj, "dtmf", "dtmf"), "digit", "dtmf"))
    if event == "mark":
        return Mark(_str(_obj(obj, "mark", "mark"), "name", "mark"))
    if event == "stop":
        return Stop()
    raise WireError(f"twilio: unknown event {json.dumps(str(event)[:40])}")


def media_message(stream_sid: str, ulaw: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": stream_sid,
                       "media": {"payload": base64.b64encode(ulaw).decode("ascii")}})


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})


def twiml(stream_url: str, token: str) -> str:
    """The voice webhook's answer: connect the call to our websocket, token attached."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Response><Connect><Stream url={quoteattr(stream_url)}>'
            f'<Parameter name="token" value={quoteattr(token)}/>'
            '</Stream></Connect></Response>')


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature`` for a form POST to ``url``."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_ok(auth_token: str, url: str, params: Mapping[str, str],
                 given: str | None) -> bool:
    return given is not None and hmac.compare_digest(
        signature(auth_token, url, params).encode(), given.encode())


def call_token(key: bytes, call_sid: str, expires_at: int) -> str:
    """A token good for one call (``call_sid``) until ``expires_at`` (Unix seconds)."""
    mac = hmac.new(key, f"{call_sid}.{expires_at}".encode(), hashlib.sha256).hexdigest()
    return f"{expires_at}.{mac}"


def call_token_ok(key: bytes, token: str | None, call_sid: str, now: float) -> bool:
    if not token or "." not in token:
        return False
    expires, _, _ = token.partition(".")
    if not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(call_token(key, call_sid, int(expires)).encode(),
                               token.encode())
