"""Phone calls through Twilio Media Streams, with a scripted Twilio: the webhook's TwiML
(signature checked) hands out a per-call token; the call streams espeak speech as
µ-law in real time; the reply comes back as µ-law media with the call's streamSid and
a mark after it; speaking over the next reply makes the bridge send clear. µ-law is
bit-exact with the G.711 reference."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import warnings
import xml.etree.ElementTree as ET
from collections import deque
from typing import Any

import httpx
import numpy as np
import pytest
import soxr
from bridgehelp import running_bridge
from speech import compose
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wsclient import pcm16

from voicebot.bridge import mulaw
from voicebot.bridge.hub import BridgeOptions
from voicebot.bridge.twilio_wire import signature

AUTH = "twilio-auth-0123456789"


def test_mulaw_matches_the_g711_reference_on_every_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # audioop-lts on Python 3.13
    every = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert mulaw.encode(every) == audioop.lin2ulaw(every, 2)
    assert mulaw.decode(bytes(range(256))) == audioop.ulaw2lin(bytes(range(256)), 2)


class FakeTwilio:
    """Twilio's side of a bidirectional Media Stream, as documented: it buffers the
    media it is sent and plays it in real time, echoes each mark once the audio before
    it has played, and on clear drops its buffer and echoes the pending marks."""

    def __init__(self, ws: Any, stream_sid: str, call_sid: str, token: str) -> None:
        self.ws, self.sid, self.call_sid, self.token = ws, stream_sid, call_sid, token
        self.sequence: list[tuple[str, Any]] = []  # ("media", bytes) / ("mark", name) / ("clear", t)
        self.sids: set[str] = set()
        self.buffer: deque[tuple[str, Any]] = deque()
        self.played = bytearray()
        self.speech: list[np.ndarray] = []

    async def start(self) -> None:
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call",
                                       "version": "1.0.0"}))
        await self.ws.send(json.dumps({
            "event": "start", "sequenceNumber": "1", "streamSid": self.sid,
            "start": {"accountSid": "AC0", "streamSid": self.sid, "callSid": self.call_sid,
                      "tracks": ["inbound"], "customParameters": {"token": self.token},
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}}}))

    async def caller(self) -> None:
        """The caller's microphone: 20 ms µ-law media in real time."""
        pending = np.zeros(0, np.float32)
        t0, n = time.monotonic(), 0
        while True:
            if len(pending) < 160 and self.speech:
                pending = np.concatenate([pending, self.speech.pop(0)])
            frame = np.zeros(160, np.float32)
            take = min(160, len(pending))
            frame[:take], pending = pending[:take], pending[take:]
            payload = base64.b64encode(mulaw.encode(pcm16(frame))).decode()
            await self.ws.send(json.dumps({"event": "media", "streamSid": self.sid,
                                           "media": {"track": "inbound", "chunk": str(n),
                                                     "timestamp": str(n * 20),
                                                     "payload": payload}}))
            n += 1
            await asyncio.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))

    async def receiver(self) -> None:
        async for text in self.ws:
            m = json.loads(text)
            self.sids.add(m.get("streamSid"))
            if m["event"] == "media":
                audio = base64.b64decode(m["media"]["payload"])
                self.sequence.append(("media", audio))
                self.buffer.append(("media", audio))
            elif m["event"] == "mark":
                self.sequence.append(("mark", m["mark"]["name"]))
                self.buffer.append(("mark", m["mark"]["name"]))
            elif m["event"] == "clear":
                self.sequence.append(("clear", time.monotonic()))
                marks = [name for kind, name in self.buffer if kind == "mark"]
                self.buffer.clear()
                for name in marks:
                    await self._echo(name)

    async def player(self) -> None:
        """Play 20 ms of buffered media every 20 ms; echo marks as they come up."""
        t0, n = time.monotonic(), 0
        while True:
            while self.buffer and self.buffer[0][0] == "mark":
                await self._echo(self.buffer.popleft()[1])
            if self.buffer:
                self.played += self.buffer.popleft()[1]
            n += 1
            await asyncio.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))

    async def _echo(self, name: str) -> None:
        await self.ws.send(json.dumps({"event": "mark", "streamSid": self.sid,
                                       "mark": {"name": name}}))

    def media_bytes(self) -> int:
        return sum(len(x) for kind, x in self.sequence if kind == "media")


def best_correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def test_a_call_with_a_reply_a_mark_and_a_barge_in(upstream: Any) -> None:
    reply_8k = soxr.resample(np.frombuffer(upstream.reply_pcm[: len(upstream.reply_pcm) // 2 * 2],
                                           "<i2").astype(np.float32) / 32768, 24_000, 8_000)

    async def main() -> None:
        options = BridgeOptions(twilio_auth_token=AUTH)
        async with running_bridge(upstream.base_url, options) as server:
            base = f"http://127.0.0.1:{server.port}"
            params = {"CallSid": "CA1234", "AccountSid": "AC0", "From": "+15550001",
                      "To": "+15550002", "CallStatus": "ringing"}
            async with httpx.AsyncClient() as http:
                forged = await http.post(f"{base}/twilio/voice", data=params,
                                         headers={"X-Twilio-Signature": "AAAA"})
                assert forged.status_code == 403
                answer = await http.post(
                    f"{base}/twilio/voice", data=params,
                    headers={"X-Twilio-Signature": signature(AUTH, f"{base}/twilio/voice",
                                                             params)})
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("application/xml")
            stream = ET.fromstring(answer.text).find("./Connect/Stream")
            assert stream is not None
            url = stream.get("url")
            assert url == f"ws://127.0.0.1:{server.port}/twilio"
            token = stream.find("./Parameter[@name='token']").get("value")  # type: ignore[union-attr]

            async with connect(url) as ws:  # another call's token does not open this one
                await FakeTwilio(ws, "MZ9", "CA9999", token).start()
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.protocol.close_rcvd.code == 1008

            async with connect(url) as ws:
                twilio = FakeTwilio(ws, "MZ1", "CA1234", token)
                await twilio.start()
                tasks = [asyncio.create_task(t()) for t in
                         (twilio.caller, twilio.receiver, twilio.player)]
                try:
                    await call(twilio, reply_8k)
                finally:
                    for task in tasks:
                        task.cancel()

    asyncio.run(main())


async def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def call(twilio: FakeTwilio, reply_8k: np.ndarray) -> None:
    question, _ = compose([0.3, "what is two plus three", 0.3], 8_000)
    twilio.speech.append(question)
    reply_bytes = len(reply_8k)
    # The whole reply, then a mark behind it.
    await wait_until(lambda: twilio.media_bytes() >= reply_bytes - 80 and
                     twilio.sequence[-1][0] == "mark")
    assert twilio.sids == {"MZ1"}
    first = b"".join(x for kind, x in twilio.sequence if kind == "media")
    heard = np.frombuffer(mulaw.decode(first), "<i2").astype(np.float32) / 32768
    assert abs(len(heard) - reply_bytes) <= 160
    assert best_correlation(heard, reply_8k) > 0.95  # the reply, 24 → 8 kHz, µ-law
    # Played to the end (the last mark echoed), the caller asks again and speaks over
    # the second answer after about a second of it.
    await wait_until(lambda: len(twilio.played) >= len(first) and not twilio.buffer)
    mark = len(twilio.sequence)
    played_before = len(twilio.played)
    twilio.speech.append(question)
    await wait_until(lambda: len(twilio.played) - played_before > 8_000)
    over, _ = compose(["what time is it", 0.3], 8_000)
    twilio.speech.append(over)
    await wait_until(lambda: any(kind == "clear" for kind, _ in twilio.sequence[mark:]))
    cleared = next(i for i, (kind, _) in enumerate(twilio.sequence) if kind == "clear")
    await asyncio.sleep(0.5)
    # The answer arrived faster than real time; clear dropped what was not played yet.
    heard_second = len(twilio.played) - played_before
    assert 8_000 < heard_second < reply_bytes - 8_000
    # A mark right after the clear settles where the caller is.
    assert twilio.sequence[cleared + 1][0] == "mark"
