"""Benchmark of the session's HTTP edge against the scripted local server. Prints numbers.

Run: ``.venv/bin/python tests/session/bench_session.py``. Not a test: nothing asserts.

* the time of a short turn on a fresh connection and on a kept-alive one;
* how fast a long spoken reply streams through ChatClient (decode included),
  as a multiple of real time;
* the cost of rendering the history and encoding a request with 10 s of user audio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "session"))

from sse_server import Reply, ScriptedServer, delta, finish, spoken_reply, sse  # noqa: E402

from voicebot.audio.wav import encode_wav  # noqa: E402
from voicebot.protocol.request import build_request, encode_request, input_audio_part  # noqa: E402
from voicebot.session.client import ChatClient  # noqa: E402
from voicebot.session.conversation import Conversation  # noqa: E402

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
SAMPLE_RATE = 24_000
CHUNK_MS = 40


async def turn_ms(client: ChatClient) -> float:
    start = time.perf_counter()
    async for _ in client.stream(BODY):
        pass
    return (time.perf_counter() - start) * 1000


async def bench_latency(turns: int = 30) -> None:
    reply = Reply(pieces=[sse(delta(role="assistant"), delta(content="ok"), finish())])
    fresh, reused = [], []
    async with ScriptedServer() as server:
        for _ in range(turns):
            server.reply(reply, reply)
            async with ChatClient(server.base_url, "key-1234") as client:
                fresh.append(await turn_ms(client))  # pays the TCP connect
                reused.append(await turn_ms(client))  # kept-alive connection
        connections = server.connections
    print(f"short turn on a new connection: median {statistics.median(fresh):6.2f} ms")
    print(f"short turn, kept-alive:         median {statistics.median(reused):6.2f} ms "
          f"({connections} connections for {2 * turns} turns)")


async def bench_throughput(seconds: int = 60) -> None:
    samples_per_chunk = SAMPLE_RATE * CHUNK_MS // 1000
    pcm = b"\x01\x02" * samples_per_chunk
    chunks = spoken_reply(["word "] * (seconds * 3), [pcm] * (seconds * 1000 // CHUNK_MS))
    body = sse(*chunks)
    async with ScriptedServer() as server:
        server.reply(Reply(pieces=[body[i:i + 65536] for i in range(0, len(body), 65536)]))
        async with ChatClient(server.base_url, None) as client:
            start = time.perf_counter()
            audio_bytes = 0
            async for event in client.stream(BODY):
                audio_bytes += len(getattr(event, "pcm", b""))
            elapsed = time.perf_counter() - start
    audio_s = audio_bytes / 2 / SAMPLE_RATE
    print(f"streamed {audio_s:.0f} s of audio ({len(body) / 1e6:.1f} MB of SSE) in "
          f"{elapsed * 1000:.0f} ms: {audio_s / elapsed:.0f}x real time")


def bench_request(turns: int = 20) -> None:
    wav = encode_wav(b"\x00\x01" * 16_000 * 10, 16_000)  # 10 s at 16 kHz
    conv = Conversation("Be brief.")
    for i in range(turns):
        conv.add_user([input_audio_part(wav)], transcript=f"question {i}")
        conv.add_assistant(transcript="answer " * 20, audio_id=f"audio_{i}", expires_at=2e9)
    conv.add_user([input_audio_part(wav)])
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        data = encode_request(build_request(conv.messages(1.7e9), model="m"))
        runs.append((time.perf_counter() - start) * 1000)
    print(f"render {turns}-exchange history + encode request with 10 s user audio: "
          f"median {statistics.median(runs):.2f} ms, {len(data) / 1e3:.0f} kB")


async def main() -> None:
    await bench_latency()
    await bench_throughput()
    bench_request()


if __name__ == "__main__":
    asyncio.run(main())
