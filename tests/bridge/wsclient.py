"""A ``/ws`` client as a program would write it, for the tests and the benchmark.

- a microphone: streams PCM16 frames in real time (``frame_ms``), silence unless
  :meth:`BridgeClient.say` queued speech;
- a player: plays received reply audio in real time (a virtual clock, no device)
  and reports ``played`` every ``report_interval_s``; on ``interrupted`` it drops
  what it had not played, counting it as played (the protocol's rule);
- the records: every text message received, in order.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np

OUTPUT_RATE = 24_000


def pcm16(samples: np.ndarray) -> bytes:
    return np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


class BridgeClient:
    def __init__(self, ws: Any, *, sample_rate: int = 16_000, frame_ms: int = 20,
                 report_interval_s: float = 0.1, report: bool = True) -> None:
        self.ws = ws
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.report_interval_s = report_interval_s
        self.report = report
        self.records: list[dict[str, Any]] = []
        self.audio = bytearray()  # every reply sample received, in order
        self.audio_at: list[tuple[float, int]] = []  # (arrival, bytes) per binary frame
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._speech: list[bytes] = []  # PCM16 queued by say()
        self._changed = asyncio.Event()
        # The virtual player: samples of self.audio played, and since when it plays.
        self.played = 0
        self._play_from: tuple[float, int] | None = None
        #: Per frame sent: how late it left after its real-time schedule (s).
        self.send_lateness_s: list[float] = []
        #: When the last queued speech finished streaming (monotonic).
        self.speech_end_at: float | None = None

    # -- protocol ---------------------------------------------------------------------

    async def hello(self, **fields: Any) -> dict[str, Any]:
        message = {"type": "hello", "sample_rate": self.sample_rate, **fields}
        await self.ws.send(json.dumps(message))
        ready = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert ready["type"] == "ready", ready
        return ready

    async def send_json(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    # -- microphone -------------------------------------------------------------------

    def say(self, samples: np.ndarray) -> None:
        """Stream ``samples`` (float32 at ``sample_rate``) next, in real time."""
        # Converted once here, not frame by frame: the benchmark runs 100 of these
        # microphones in one process beside the bridge, on the same cores.
        self._speech.append(pcm16(samples))

    @property
    def speaking(self) -> bool:
        return bool(self._speech)

    async def microphone(self, *, until: asyncio.Event | None = None) -> None:
        """Stream frames in real time until cancelled (or ``until`` is set)."""
        n = self.sample_rate * self.frame_ms // 1000 * 2  # bytes per frame
        silence = bytes(n)
        pending, offset = b"", 0  # speech not sent yet: pending[offset:]
        t0 = time.monotonic()
        sent = 0
        while until is None or not until.is_set():
            if len(pending) - offset < n and self._speech:
                pending, offset = pending[offset:] + self._speech.pop(0), 0
                self.speech_end_at = None
            if offset < len(pending):
                frame = pending[offset:offset + n]
                offset += n
                if len(frame) < n:
                    frame += silence[len(frame):]
                if offset >= len(pending) and not self._speech:
                    self.speech_end_at = t0 + (sent + 1) * self.frame_ms / 1000
            else:
                frame = silence
            due = t0 + sent * self.frame_ms / 1000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_lateness_s.append(max(0.0, time.monotonic() - due))
            await self.ws.send(frame)
            sent += 1

    # -- player and records -----------------------------------------------------------

    def _advance(self, now: float) -> None:
        """The virtual player: plays received samples in real time."""
        received = len(self.audio) // 2
        if self._play_from is None:
            if received > self.played:
                self._play_from = (now, self.played)
            return
        since, base = self._play_from
        self.played = min(received, base + int((now - since) * OUTPUT_RATE))
        if self.played >= received:
            self._play_from = None  # ran dry: restart at the next audio

    async def receiver(self) -> None:
        """Read until the connection closes; record everything."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.ws:
                now = time.monotonic()
                self._advance(now)
                if isinstance(message, bytes):
                    self.audio += message
                    self.audio_at.append((now, len(message)))
                    self._advance(now)
                else:
                    record = json.loads(message)
                    self.records.append(record)
                    if record["type"] == "interrupted":
                        self.played = len(self.audio) // 2  # drop the rest: counts as played
                        self._play_from = None
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd is not None else 1006
            self.close_reason = rcvd.reason if rcvd is not None else None
            self._changed.set()

    async def reporter(self) -> None:
        """Send ``played`` while there is audio to play."""
        last = -1
        while True:
            await asyncio.sleep(self.report_interval_s)
            self._advance(time.monotonic())
            if self.report and self.played != last:
                last = self.played
                await self.send_json(type="played", samples=self.played)

    async def wait_for(self, kind: str, *, after: int = 0, timeout: float = 30.0,
                       **match: Any) -> dict[str, Any]:
        """The first record of type ``kind`` (fields equal to ``match``) at index >= ``after``."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.records[after:]:
                if record["type"] == kind and all(record.get(k) == v for k, v in match.items()):
                    return record
            if self.close_code is not None:
                raise AssertionError(f"closed {self.close_code} {self.close_reason!r} before "
                                     f"{kind}; got {[r['type'] for r in self.records]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} within {timeout} s; got "
                                     f"{[r['type'] for r in self.records]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_closed(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            left = deadline - time.monotonic()
            assert left > 0, "the connection did not close"
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self.close_code

    def text_of(self, turn: int) -> str:
        return "".join(r["text"] for r in self.records
                       if r["type"] == "transcript.delta" and r["turn"] == turn)
