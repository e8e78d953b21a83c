#!/usr/bin/env python3
"""Benchmark the playback path and print numbers (no pass/fail).

1. Pure parts: CPU time per second of audio for the loop side (PCM16 → float,
   soxr.ResampleStream 24 kHz → 48 kHz, JitterBuffer.push) and the callback side
   (JitterBuffer.pull in 10 ms blocks at 48 kHz), plus the per-pull time (mean, p99).
2. Real device (if the PipeWire virtual speaker is up: eval "$(scripts/audio-up)"):
   process CPU time per second of audio while a Speaker plays, against the same
   stream playing silence; and the latency from the first audio delta pushed to its
   first sample leaving the output callback, for a burst (first delta already larger
   than the prebuffer) and for deltas paced at real time.

Usage: .venv/bin/python scripts/bench_playback.py [--seconds 20] [--no-device]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16, pcm16_to_float  # noqa: E402
from voicebot.errors import AudioDeviceError  # noqa: E402
from voicebot.playback import JitterBuffer, JitterPolicy, Speaker  # noqa: E402

OUT_RATE = 48_000
DELTA_MS = 40          # audio per streamed delta
BLOCK = OUT_RATE // 100  # 10 ms callbacks
AUDIO_LOCK = "/tmp/voicebot-test-audio.lock"  # the tests' lock on the shared devices


def test_pcm(seconds: float) -> bytes:
    t = np.arange(int(seconds * API_SAMPLE_RATE)) / API_SAMPLE_RATE
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return float_to_pcm16(x.astype(np.float32))


def deltas(pcm: bytes) -> list[bytes]:
    step = API_SAMPLE_RATE * DELTA_MS // 1000 * 2
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


def bench_pure(seconds: float) -> None:
    chunks = deltas(test_pcm(seconds))
    jb = JitterBuffer(OUT_RATE, JitterPolicy.fixed(120), capacity_ms=1000)
    resampler = soxr.ResampleStream(API_SAMPLE_RATE, OUT_RATE, 1, dtype="float32", quality="HQ")
    out = np.zeros((BLOCK, 2), np.float32)[:, 0]
    pulls_per_delta = DELTA_MS // 10
    push_cpu = 0.0
    pull_ns: list[int] = []
    for chunk in chunks:
        t0 = time.process_time()
        jb.push(resampler.resample_chunk(pcm16_to_float(chunk)))
        push_cpu += time.process_time() - t0
        for _ in range(pulls_per_delta):
            t1 = time.perf_counter_ns()
            jb.pull(out)
            pull_ns.append(time.perf_counter_ns() - t1)
    pull_ms_total = sum(pull_ns) / 1e6
    print(f"pure, {seconds:.0f} s of audio, {DELTA_MS} ms deltas, "
          f"24 kHz -> {OUT_RATE} Hz (soxr HQ), {BLOCK}-frame pulls:")
    print(f"  loop side  (convert + resample + push): {push_cpu * 1000 / seconds:7.3f} ms CPU "
          "per s of audio")
    print(f"  callback side (pull):                   {pull_ms_total / seconds:7.3f} ms per s "
          f"of audio; per pull mean {statistics.fmean(pull_ns) / 1000:.1f} us, "
          f"p99 {np.percentile(pull_ns, 99) / 1000:.1f} us, max {max(pull_ns) / 1000:.1f} us")
    print(f"  underruns {jb.underruns} (pulls kept pace with pushes)")


async def _cpu_while_playing(seconds: float, silent: bool) -> tuple[float, Speaker]:
    loop = asyncio.get_running_loop()
    speaker = Speaker(prebuffer_ms=120, loop=loop)
    try:
        await asyncio.sleep(0.2)  # stream warm-up, not counted
        t_cpu, t_wall = time.process_time(), loop.time()
        if silent:
            await asyncio.sleep(seconds)
        else:
            for chunk in deltas(test_pcm(seconds)):
                speaker.push_pcm16(chunk)
                await asyncio.sleep(DELTA_MS / 1000 * 0.5)  # faster than real time
            speaker.end_of_stream()
            await speaker.drained()
        cpu = time.process_time() - t_cpu
        wall = loop.time() - t_wall
    finally:
        speaker.close()
    return cpu / wall, speaker


async def _latency(policy: JitterPolicy, paced: bool) -> float:
    loop = asyncio.get_running_loop()
    speaker = Speaker(loop=loop, jitter_policy=policy)
    try:
        await asyncio.sleep(0.1)
        pcm = test_pcm(0.6)
        if paced:
            for chunk in deltas(pcm):
                speaker.push_pcm16(chunk)
                await asyncio.sleep(DELTA_MS / 1000)
        else:
            speaker.push_pcm16(pcm[: API_SAMPLE_RATE * 2 // 5])  # a 200 ms first delta
            speaker.push_pcm16(pcm[API_SAMPLE_RATE * 2 // 5:])
        speaker.end_of_stream()
        await speaker.drained()
        assert speaker.first_sample_played_at is not None and speaker.first_push_at is not None
        return speaker.first_sample_played_at - speaker.first_push_at
    finally:
        speaker.close()


async def bench_device(seconds: float) -> None:
    idle, speaker = await _cpu_while_playing(min(seconds, 3.0), silent=True)
    busy, speaker = await _cpu_while_playing(seconds, silent=False)
    print(f"device '{speaker.device_name}' at {speaker.sample_rate} Hz, {speaker.channels} ch, "
          f"blocks of {speaker.blocksize} frames, reported output latency "
          f"{speaker.output_latency_s * 1000:.1f} ms:")
    print(f"  process CPU while playing: {busy * 1000:6.2f} ms per s "
          f"(stream playing silence: {idle * 1000:6.2f} ms per s; "
          f"difference {(busy - idle) * 1000:6.2f} ms per s of audio)")
    print(f"  jitter underruns {speaker.underruns}, device xruns {speaker.xruns}")
    print("  first delta pushed -> its first sample leaves the callback (median of 5):")
    policies = [(f"prebuffer {ms:5.0f} ms", JitterPolicy.fixed(ms)) for ms in (0.0, 60.0, 120.0)]
    for name, policy in policies + [("adaptive policy   ", JitterPolicy())]:
        for paced in (False, True):
            runs = [await _latency(policy, paced) for _ in range(5)]
            how = f"paced {DELTA_MS} ms deltas" if paced else "200 ms first delta"
            print(f"    {name}, {how:20s}: "
                  f"{statistics.median(runs) * 1000:6.1f} ms "
                  f"(min {min(runs) * 1000:.1f}, max {max(runs) * 1000:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="audio length for the CPU runs")
    ap.add_argument("--no-device", action="store_true", help="only the pure parts")
    args = ap.parse_args()
    bench_pure(args.seconds)
    if args.no_device:
        return
    with open(AUDIO_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            asyncio.run(bench_device(min(args.seconds, 5.0)))
        except AudioDeviceError as exc:
            print(f"device benchmark skipped: {exc}")


if __name__ == "__main__":
    main()
