#!/usr/bin/env python3
"""Benchmark: end of utterance → request bytes, for a 10 s 16 kHz mono utterance.

Measures what runs between the VAD saying "speech ended" and the request body being
ready to send: ``encode_wav`` + ``input_audio_part`` + ``build_request`` +
``encode_request``. Prints the median and other percentiles of N runs in
milliseconds; the goal is a median of at most 5 ms. Exit status 1 if the median
misses the goal, so it can gate a CI job that runs on quiet hardware.

    .venv/bin/python scripts/bench_request.py [--runs 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from voicebot.audio import VAD_SAMPLE_RATE, encode_wav
from voicebot.protocol.request import (
    assistant_message,
    build_request,
    encode_request,
    input_audio_part,
    system_message,
    user_message,
)

GOAL_MS = 5.0


def one_run(pcm16: bytes, history: list[dict]) -> tuple[float, int]:
    start = time.perf_counter()
    wav = encode_wav(pcm16, VAD_SAMPLE_RATE)
    messages = [*history, user_message([input_audio_part(wav)])]
    body = build_request(messages, model="gpt-4o-audio-preview", voice="alloy")
    data = encode_request(body)
    return (time.perf_counter() - start) * 1000.0, len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="utterance length")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    # Noise, not silence: the content does not change the cost, but it keeps any
    # future compression-aware path honest.
    samples = rng.integers(-8000, 8000, int(args.seconds * VAD_SAMPLE_RATE), dtype="<i2")
    pcm16 = samples.tobytes()
    history = [system_message("You are a helpful voice assistant."),
               user_message("What's the weather like?"),
               assistant_message(None, audio_id="audio_abc123")]

    for _ in range(10):  # warm up caches and the allocator
        one_run(pcm16, history)
    times = []
    size = 0
    for _ in range(args.runs):
        ms, size = one_run(pcm16, history)
        times.append(ms)
    times.sort()
    median = statistics.median(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    print(f"utterance: {args.seconds:g} s at {VAD_SAMPLE_RATE} Hz "
          f"({len(pcm16)} PCM bytes) -> request {size} bytes")
    print(f"end of utterance -> request bytes: median {median:.3f} ms, "
          f"min {times[0]:.3f} ms, p90 {p90:.3f} ms, max {times[-1]:.3f} ms "
          f"over {args.runs} runs (goal <= {GOAL_MS:g} ms)")
    return 0 if median <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
