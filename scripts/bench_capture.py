#!/usr/bin/env python3
"""CPU cost of the capture path: convert (48 kHz stereo → 16 kHz mono) + VAD + segmentation.

Usage: .venv/bin/python scripts/bench_capture.py [--seconds 60] [--block-ms 20] [--rate 48000]

Synthesises a speech-like signal (voiced bursts of a harmonic series with a
moving pitch, separated by pauses, over -50 dBFS noise), feeds it in device-sized
blocks exactly as ``voicebot.capture.utterances`` does, and prints process CPU
time per second of audio for each stage and in total. Single thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from voicebot.capture.segmenter import UtteranceEnded  # noqa: E402
from voicebot.capture.vad import CaptureConverter, UtteranceDetector  # noqa: E402
from voicebot.capture.segmenter import Segmenter  # noqa: E402
from voicebot.capture.vad import Vad, VadFramer  # noqa: E402


def synth(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """(frames, 2) float32: 1.5 s 'words' of harmonics, 1.0 s pauses, light noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = ((t % 2.5) < 1.5) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    mono = 0.2 * voice * envelope + rng.normal(0, 10 ** (-50 / 20), n)
    return np.stack([mono, 0.9 * mono], axis=1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--block-ms", type=int, default=20)
    ap.add_argument("--rate", type=int, default=48_000)
    args = ap.parse_args()
    x = synth(args.seconds, args.rate)
    block = args.rate * args.block_ms // 1000
    blocks = [x[i:i + block] for i in range(0, len(x), block)]
    audio_s = len(x) / args.rate

    # Stage 1: conversion alone.
    conv = CaptureConverter(args.rate, 2)
    t0 = time.process_time()
    pcm = b"".join(conv.feed(b) for b in blocks) + conv.flush()
    t_conv = time.process_time() - t0

    # Stage 2: framing + webrtcvad on the converted audio.
    framer, vad = VadFramer(30), Vad(3)
    t0 = time.process_time()
    frames = framer.push(pcm)
    flags = [vad.is_speech(f) for f in frames]
    t_vad = time.process_time() - t0

    # Stage 3: segmentation alone.
    seg = Segmenter()
    t0 = time.process_time()
    for f, v in zip(frames, flags):
        seg.feed(f, v)
    seg.end()
    t_seg = time.process_time() - t0

    # End to end, as utterances() runs it (block by block).
    conv, det = CaptureConverter(args.rate, 2), UtteranceDetector()
    n_utt = 0
    t0 = time.process_time()
    for b in blocks:
        n_utt += sum(isinstance(e, UtteranceEnded) for e in det.feed(conv.feed(b)))
    n_utt += sum(isinstance(e, UtteranceEnded) for e in det.feed(conv.flush()) + det.end())
    t_all = time.process_time() - t0

    print(f"signal: {audio_s:.0f} s at {args.rate} Hz stereo, {args.block_ms} ms blocks "
          f"({len(blocks)} blocks), {len(frames)} VAD frames, {n_utt} utterances")
    for name, t in (("convert (downmix+soxr+pcm16)", t_conv), ("frame + webrtcvad", t_vad),
                    ("segmenter", t_seg), ("end to end", t_all)):
        print(f"{name:30s} {t * 1000 / audio_s:7.3f} ms CPU per s of audio "
              f"({t / audio_s * 100:.3f} % of one core)")
    print(f"{'per block (end to end)':30s} {t_all / len(blocks) * 1e6:7.1f} µs")


if __name__ == "__main__":
    main()
