#!/usr/bin/env python3
"""Benchmark: end-of-utterance decision → request bytes received by the server.

Times the real client path for a 10 s 16 kHz utterance: WAV + base64 part, request
building, JSON, and httpx writing it over a kept-alive loopback connection, until a
server (a plain socket server in another thread) has read the last byte of the body.
The first request pays for connecting and is reported apart. Goal: ≤ 5 ms (median).

    .venv/bin/python scripts/bench_turn.py [--runs 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import threading
import time

import numpy as np

from voicebot.capture.listen import Utterance, utterance_wav
from voicebot.protocol.events import StreamEvent
from voicebot.protocol.request import input_audio_part
from voicebot.session.client import ChatClient
from voicebot.session.turn import RequestOptions, Session

_SSE = (b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n")
REPLY = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
         b"content-length: %d\r\n\r\n" % len(_SSE)) + _SSE


class BodyClock(threading.Thread):
    """Keep-alive HTTP/1.1 server: records perf_counter() when each body is complete."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[float] = []

    def run(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(1 << 20)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(buf) < length:
                buf += conn.recv(1 << 20)
            self.arrivals.append(time.perf_counter())
            buf = buf[length:]
            conn.sendall(REPLY)


class Quiet:
    def on_event(self, event: StreamEvent) -> None:
        pass


async def main_async(runs: int, seconds: float) -> None:
    server = BodyClock()
    server.start()
    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 3000, int(seconds * 16000)).clip(-32768, 32767)
           .astype("<i2").tobytes())
    utterance = Utterance(pcm, 0.0, seconds, "silence")
    client = ChatClient(f"http://127.0.0.1:{server.port}")
    waits: list[float] = []
    async with client:
        for _ in range(runs + 1):
            session = Session(client, RequestOptions())  # fresh history: same body size each run
            start = time.perf_counter()
            parts = [input_audio_part(utterance_wav(utterance))]
            await session.run_turn(parts, Quiet())
            waits.append((server.arrivals[-1] - start) * 1000)
    first, rest = waits[0], sorted(waits[1:])
    print(f"end of utterance -> request body received, {seconds:.0f} s utterance "
          f"({len(pcm) * 4 // 3 // 1024} KiB base64):")
    print(f"  first request (connects): {first:.2f} ms")
    print(f"  kept-alive: median {statistics.median(rest):.2f} ms, "
          f"p90 {rest[int(0.9 * (len(rest) - 1))]:.2f} ms, min {rest[0]:.2f} ms  (goal <= 5 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main_async(args.runs, args.seconds))


if __name__ == "__main__":
    main()
