#!/usr/bin/env python3
"""Benchmark the local API server and print numbers (no pass/fail).

- time to first audio byte of a short streamed text request (goal: <= 150 ms on 2 cores)
- real-time factors of speech synthesis and recognition (processing time / audio time)
- streamed requests per second it sustains with N concurrent clients
- spoken requests (input_audio, recognised by pocketsphinx) per second with N clients
- the latency of spoken requests while many clients stream spoken replies (do waits for
  the synthesiser hold up recognition?)
- how late an event loop runs in a process that embeds the server (as ``voicebot chat``
  does) while it recognises speech in that process or in worker processes
  (``--only-stall`` runs only this)

The server runs in a separate process (as ``voicebot serve`` would), so the client's
work does not share its GIL. Usage: ``.venv/bin/python scripts/bench_server.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np

SHORT = {"messages": [{"role": "user", "content": "what time is it"}],
         "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"},
         "stream": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen[bytes]:
    code = f"from voicebot.server.serve import run_server; run_server('127.0.0.1', {port})"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def first_audio_ms(client: httpx.Client) -> float:
    t0 = time.perf_counter()
    with client.stream("POST", "/chat/completions", json=SHORT) as r:
        for line in r.iter_lines():
            if '"data":"' in line:
                return (time.perf_counter() - t0) * 1000
    raise RuntimeError("no audio in the stream")


def bench_ttfa(base_url: str, runs: int) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        for _ in range(3):  # warm: engines loaded, connection open
            first_audio_ms(c)
        times = sorted(first_audio_ms(c) for _ in range(runs))
    p90 = times[int(0.9 * (len(times) - 1))]
    print(f"time to first audio byte: median {statistics.median(times):.1f} ms, "
          f"p90 {p90:.1f} ms, max {times[-1]:.1f} ms ({runs} runs, goal <= 150 ms)")


def bench_rtf() -> None:
    from voicebot.speech.synth import Synthesizer
    synth = Synthesizer()
    text = ("The quick brown fox jumps over the lazy dog. It is a quarter past three. "
            "Twelve times seven is eighty four. Your timer has two minutes left.")
    synth.synthesize_all("warm up.")
    t0 = time.perf_counter()
    pcm = synth.synthesize_all(text)
    took = time.perf_counter() - t0
    audio_s = len(pcm) / 2 / 24_000
    print(f"synthesis RTF: {took / audio_s:.3f} ({took * 1000:.0f} ms for {audio_s:.1f} s)")
    try:
        from voicebot.server.assistant import SKILL_PHRASES
        from voicebot.speech.recognize import PocketsphinxRecognizer
    except ImportError as exc:
        print(f"recognition RTF: not measured ({exc})")
        return
    rec = PocketsphinxRecognizer(phrases=SKILL_PHRASES)
    speech = np.frombuffer(synth.synthesize_all("what time is it. set a timer for five "
                                                "minutes."), dtype="<i2")
    samples = speech.astype(np.float32) / 32768
    rec.transcribe(samples[:2400], 24_000)
    t0 = time.perf_counter()
    heard = rec.transcribe(samples, 24_000)
    took = time.perf_counter() - t0
    audio_s = len(samples) / 24_000
    print(f"recognition RTF: {took / audio_s:.3f} ({took * 1000:.0f} ms for {audio_s:.1f} s; "
          f"heard {heard!r})")


async def bench_rps(base_url: str, clients: int, seconds: float) -> None:
    done = 0
    audio_bytes = 0
    stop_at = time.monotonic() + seconds

    async def worker(c: httpx.AsyncClient) -> None:
        nonlocal done, audio_bytes
        while time.monotonic() < stop_at:
            async with c.stream("POST", "/chat/completions", json=SHORT) as r:
                async for chunk in r.aiter_bytes():
                    audio_bytes += len(chunk)
            done += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as c:
        t0 = time.monotonic()
        await asyncio.gather(*(worker(c) for _ in range(clients)))
        took = time.monotonic() - t0
    print(f"streamed requests/s with {clients} concurrent clients: {done / took:.1f} "
          f"({done} requests in {took:.1f} s, {audio_bytes / took / 1e6:.1f} MB/s of SSE)")


def spoken_bodies(n: int) -> list[dict[str, object]]:
    """``n`` requests carrying "what is two plus two" as speech (the eSpeak NG command),
    text reply: they exercise recognition, not synthesis. Each has its own 1-LSB dither,
    so the server (which recognises the same audio bytes only once) decodes every one."""
    import base64
    import io
    import wave

    from voicebot.audio.wav import encode_wav

    out = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", "what is two plus two"],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    rng = np.random.default_rng(0)
    bodies: list[dict[str, object]] = []
    for _ in range(n):
        dithered = np.clip(pcm + rng.integers(-1, 2, len(pcm)), -32768, 32767).astype("<i2")
        wav = encode_wav(dithered.tobytes(), rate)
        bodies.append({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(),
                                                    "format": "wav"}}]}], "stream": False})
    return bodies


async def bench_spoken(base_url: str, clients: int, seconds: float,
                       bodies: list[dict[str, object]]) -> None:
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(c: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            r = await c.post("/chat/completions", json=bodies[done % len(bodies)])
            r.raise_for_status()
            done += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=120,
                                 limits=httpx.Limits(max_connections=clients)) as c:
        t0 = time.monotonic()
        await asyncio.gather(*(worker(c) for _ in range(clients)))
        took = time.monotonic() - t0
    print(f"spoken requests/s with {clients} concurrent clients: {done / took:.2f} "
          f"({done} in {took:.1f} s)")


async def bench_spoken_under_load(base_url: str, streams: int,
                                  bodies: list[dict[str, object]], runs: int) -> None:
    """Spoken-request latency while ``streams`` clients keep streaming spoken replies."""
    long = {**SHORT, "messages": [{"role": "user", "content": "say " + " ".join(
        f"Sentence number {i} is here." for i in range(8))}]}
    stop = asyncio.Event()

    async def streamer(c: httpx.AsyncClient) -> None:
        while not stop.is_set():
            async with c.stream("POST", "/chat/completions", json=long) as r:
                async for _ in r.aiter_bytes():
                    pass

    async with httpx.AsyncClient(base_url=base_url, timeout=300,
                                 limits=httpx.Limits(max_connections=streams + 1)) as c:
        tasks = [asyncio.create_task(streamer(c)) for _ in range(streams)]
        await asyncio.sleep(1.0)  # let the streams pile up on the synthesiser
        times = []
        for i in range(runs):
            t0 = time.perf_counter()
            (await c.post("/chat/completions", json=bodies[i])).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    times.sort()
    print(f"spoken request latency with {streams} streams running: median "
          f"{statistics.median(times):.0f} ms, max {times[-1]:.0f} ms ({runs} runs)")


def bench_loop_stall(bodies: list[dict[str, object]], runs: int) -> None:
    """How late an event loop's timer fires in a process that embeds the server (as
    ``voicebot chat`` does) while it answers spoken requests, recognition in that
    process (``recognizer_workers=0``) or in worker processes (the default)."""
    from voicebot.server.completion import Engines, ServerState
    from voicebot.server.serve import start_embedded

    for workers in (0, 2):
        state = ServerState(engines=Engines(recognizer_workers=workers))
        with start_embedded(state=state) as srv:
            state.engines.warm_up()
            lateness: list[float] = []

            async def measure() -> None:
                async with httpx.AsyncClient(base_url=srv.base_url, timeout=60) as c:
                    async def ask() -> None:
                        for i in range(runs):
                            (await c.post("/chat/completions",
                                          json=bodies[i])).raise_for_status()
                    asking = asyncio.create_task(ask())
                    while not asking.done():
                        t0 = time.perf_counter()
                        await asyncio.sleep(0.005)
                        lateness.append((time.perf_counter() - t0 - 0.005) * 1000)
                    await asking

            t0 = time.perf_counter()
            asyncio.run(measure())
            per_request_ms = (time.perf_counter() - t0) * 1000 / runs
        lateness.sort()
        print(f"event loop in the server's process, recognizer_workers={workers}: 5 ms timer "
              f"late by p50 {statistics.median(lateness):.1f} ms, p99 "
              f"{lateness[int(0.99 * len(lateness))]:.1f} ms, max {lateness[-1]:.1f} ms "
              f"({runs} spoken requests, {per_request_ms:.0f} ms each)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--only-stall", action="store_true",
                    help="only the event loop's stalls in a process embedding the server")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs")
    if args.only_stall:
        bench_loop_stall(spoken_bodies(10), 10)
        return
    port = free_port()
    proc = start_server(port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        bench_ttfa(base_url, 10 if args.quick else 50)
        bench_rtf()
        for n in (1, 4, 16):
            asyncio.run(bench_rps(base_url, n, 2 if args.quick else 5))
        bodies = spoken_bodies(200)  # more than any part sends
        for n in (1, 2, 4):
            asyncio.run(bench_spoken(base_url, n, 3 if args.quick else 6, bodies))
        asyncio.run(bench_spoken_under_load(base_url, 48, bodies, 3 if args.quick else 6))
        bench_loop_stall(bodies, 5 if args.quick else 10)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
