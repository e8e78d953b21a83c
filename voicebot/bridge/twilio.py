"""Phone calls: Twilio Media Streams at ``/twilio``, its voice webhook at ``/twilio/voice``.

::

    POST /twilio/voice  ──▶ TwiML: <Connect><Stream url="wss://…/twilio"> + a per-call token
    WS /twilio  start (token checked) ─▶ media (µ-law 8 kHz) ─▶ FrameSource ─▶ Driver ─▶ core
                ◀── media (µ-law 8 kHz), mark every 250 ms and after each reply, clear on barge-in

The caller's audio takes the same path as a browser's (8 kHz into the VAD through
``capture_events``); the reply is resampled 24 → 8 kHz (soxr, one stream per reply)
and µ-law encoded (:mod:`.mulaw`). Where the caller is in the reply comes from
Twilio's mark echoes: each mark is named after the reply samples (24 kHz, counted
over the call) sent before it. After ``clear`` Twilio echoes the marks of the audio
it dropped, and a last mark sent after the ``clear`` settles the count.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
import urllib.parse
from typing import Any

import numpy as np
import soxr
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..aio import within
from ..playback.sinks import Pcm16Joiner
from ..turntaking.events import Event
from . import mulaw
from .app import StarletteChannel, origin_allowed
from .hub import Channel, Hub
from .link import Link, refuse
from .outbox import Outbox
from .sink import TrackedSink
from .twilio_wire import (
    TWILIO_SAMPLE_RATE,
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    call_token,
    call_token_ok,
    clear_message,
    mark_message,
    media_message,
    parse_twilio,
    signature_ok,
    twiml,
)
from .wire import CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_TRY_AGAIN, OUTPUT_SAMPLE_RATE, WireError

__all__ = ["TwilioSink", "TwilioLink", "serve_twilio", "twilio_routes", "call_key"]

log = logging.getLogger("voicebot.bridge")

#: A call token is good this long after the webhook answered (Twilio connects at once).
CALL_TOKEN_TTL_S = 120
_MEDIA_BYTES = TWILIO_SAMPLE_RATE * 20 // 1000  # 20 ms of µ-law, as Twilio sends
_MARK_EVERY = OUTPUT_SAMPLE_RATE // 4  # reply samples between position marks (250 ms)
_MAX_WEBHOOK_BYTES = 64 * 1024


def call_key(hub: Hub) -> bytes:
    """The key of the per-call tokens. Derived from a configured secret, so that every
    bridge process behind a load balancer accepts the tokens of the others; random
    (this process only) when none is configured."""
    secret = hub.options.token or hub.options.twilio_auth_token
    if secret:
        return hashlib.sha256(b"voicebot twilio call token\0" + secret.encode()).digest()
    return secrets.token_bytes(32)


class TwilioSink(TrackedSink):
    """Reply audio as Twilio ``media`` messages; the listener's position from marks.

    Loop thread. The :class:`~voicebot.playback.sinks.Sink` contract, like
    :class:`~.sink.WebsocketSink`; positions count the reply's 24 kHz samples.
    """

    def __init__(self, outbox: Outbox, stream_sid: str, *, clock: Any = time.monotonic,
                 report_timeout_s: float = 2.0) -> None:
        super().__init__(clock=clock, report_timeout_s=report_timeout_s)
        self._outbox = outbox
        self._sid = stream_sid
        self._joiner = Pcm16Joiner()
        self._resampler: soxr.ResampleStream | None = None
        self._ulaw = bytearray()
        self._since_mark = 0

    def push_pcm16(self, pcm: bytes) -> None:
        if not self.position.reply_open:
            self._resampler = soxr.ResampleStream(OUTPUT_SAMPLE_RATE, TWILIO_SAMPLE_RATE, 1,
                                                  dtype="int16", quality="HQ")
        self.position.begin_if_needed()
        whole = self._joiner.whole(pcm)
        if not whole or self._resampler is None:
            return
        samples = np.frombuffer(whole, dtype="<i2")
        self._ulaw += mulaw.encode(self._resampler.resample_chunk(samples, last=False))
        self._send(len(samples), final=False)

    def _send(self, samples: int, *, final: bool) -> None:
        step = _MEDIA_BYTES
        whole = len(self._ulaw) if final else len(self._ulaw) // step * step
        for i in range(0, whole, step):
            self._outbox.put(media_message(self._sid, bytes(self._ulaw[i:i + step])), audio=True)
        del self._ulaw[:whole]
        self.position.sent(samples)
        self._since_mark += samples
        if final or self._since_mark >= _MARK_EVERY:
            self._mark(audio=True)

    def _mark(self, *, audio: bool) -> None:
        self._since_mark = 0
        self._outbox.put(mark_message(self._sid, f"voicebot:{self.position.sent_total}"),
                         audio=audio)

    def end_of_stream(self) -> None:
        if self._resampler is not None and self.position.reply_open:
            tail = self._resampler.resample_chunk(np.zeros(0, np.int16), last=True)
            self._ulaw += mulaw.encode(tail)
            self._send(0, final=True)  # the reply's last mark: its echo means it was heard
        self._joiner.reset()
        self._resampler = None
        self.position.end()

    def cancel(self) -> None:
        """Barge-in: drop what is queued here, have Twilio drop what it buffered."""
        self._outbox.drop_audio()
        self._ulaw.clear()
        self._joiner.reset()
        self._resampler = None
        self._outbox.put(clear_message(self._sid))
        self._mark(audio=False)  # echoed at once: everything sent counts as played
        self.position.end(cancelled=True)

    def on_mark(self, name: str, now: float) -> None:
        prefix, _, count = name.partition(":")
        if prefix == "voicebot" and count.isdigit():
            self.position.played(int(count), now)

class TwilioLink(Link):
    """One phone call's conversation over a Media Stream."""

    def __init__(self, channel: Channel, hub: Hub, start: Start) -> None:
        self.stream_sid = start.stream_sid
        self.call_sid = start.call_sid
        super().__init__(channel, hub, sample_rate=TWILIO_SAMPLE_RATE, voice=None)

    def _make_sink(self) -> TwilioSink:
        self._twilio_sink = TwilioSink(self.outbox, self.stream_sid, clock=self.hub.clock,
                                       report_timeout_s=self.hub.options.report_timeout_s)
        return self._twilio_sink

    def _on_event(self, event: Event) -> None:
        # Twilio has no use for the records; they go to the bridge's log (-v).
        if event.type in ("user", "turn.done", "interrupted", "error"):
            log.info("call %s: %s", self.call_sid, self.hub.redact(str(event.to_dict())))

    async def _handle(self, message: bytes | str, now: float) -> None:
        if isinstance(message, bytes):
            log.info("call %s: ignored a binary frame", self.call_sid)
            return
        try:
            m = parse_twilio(message)
        except WireError as exc:
            log.info("call %s: %s", self.call_sid, exc)
            return
        if isinstance(m, Media):
            if m.track == "inbound" and m.payload:
                self.source.push(mulaw.decode(m.payload), now)
        elif isinstance(m, Mark):
            self._twilio_sink.on_mark(m.name, now)
        elif isinstance(m, Stop):
            self.source.end()  # the caller hung up: finish, then close
        elif isinstance(m, Dtmf):
            log.info("call %s: key %s", self.call_sid, m.digit)


async def serve_twilio(channel: Channel, hub: Hub, key: bytes) -> None:
    """A ``/twilio`` connection: ``connected``, then ``start`` with a valid call token
    (else 1008), then the call's conversation."""
    deadline = hub.clock() + hub.options.hello_timeout_s
    start: Start | None = None
    while start is None:
        try:
            message = await within(channel.receive(), max(0.0, deadline - hub.clock()))
        except asyncio.TimeoutError:
            await refuse(channel, CLOSE_POLICY, "no start message")
            return
        if message is None:
            return
        try:
            parsed = parse_twilio(message) if isinstance(message, str) else None
        except WireError as exc:
            await refuse(channel, CLOSE_POLICY, str(exc))
            return
        if isinstance(parsed, Start):
            start = parsed
        elif not isinstance(parsed, Connected):
            await refuse(channel, CLOSE_POLICY, "expected connected and start")
            return
    if not call_token_ok(key, start.custom_parameters.get("token"), start.call_sid, time.time()):
        await refuse(channel, CLOSE_POLICY, "bad or expired call token")
        return
    if not hub.reserve():
        code = CLOSE_GOING_AWAY if hub.draining else CLOSE_TRY_AGAIN
        await refuse(channel, code, "going away" if hub.draining else "too many sessions")
        return
    try:
        link = TwilioLink(channel, hub, start)
        log.info("call %s: stream %s started", start.call_sid, start.stream_sid)
        await link.run()
    finally:
        hub.release()


def _public_url(request: Request) -> tuple[str, str]:
    """(scheme, host) as the caller (Twilio) sees them, through a proxy's X-Forwarded-*."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return scheme, host.split(",")[0].strip()


def twilio_routes(hub: Hub) -> list[Any]:
    key = call_key(hub)

    async def voice(request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_WEBHOOK_BYTES:
            return PlainTextResponse("request too large", status_code=413)
        params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                             keep_blank_values=True))
        scheme, host = _public_url(request)
        auth = hub.options.twilio_auth_token
        if auth is None and hub.options.token is not None:
            # An exposed bridge: the webhook must prove it is Twilio's.
            return PlainTextResponse("set --twilio-auth-token to take calls",
                                     status_code=403)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if auth is not None and not signature_ok(auth, f"{scheme}://{host}{path}", params,
                                                 request.headers.get("x-twilio-signature")):
            log.info("refused a webhook with a bad signature")
            return PlainTextResponse("bad signature", status_code=403)
        call_sid = params.get("CallSid")
        if not call_sid:
            return PlainTextResponse("no CallSid", status_code=400)
        token = call_token(key, call_sid, int(time.time()) + CALL_TOKEN_TTL_S)
        ws_scheme = "wss" if scheme == "https" else "ws"
        return Response(twiml(f"{ws_scheme}://{host}/twilio", token),
                        media_type="application/xml")

    async def stream(websocket: WebSocket) -> None:
        if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                              hub.options.origins):
            await websocket.close(1008)
            return
        await websocket.accept()
        await serve_twilio(StarletteChannel(websocket), hub, key)

    return [Route("/twilio/voice", voice, methods=["POST"]), WebSocketRoute("/twilio", stream)]
