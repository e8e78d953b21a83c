#!/usr/bin/env python3
"""Two wake-word engines together: microWakeWord as openWakeWord's gate, and fused scores.

Usage::

    .venv/bin/python scripts/bench_wakefusion.py [--quick] [--model hey_jarvis]
        [--fused 0.5,0.8 [--onset-window-ms 1800]]

Runs openWakeWord and microWakeWord on every chunk of the corpus of
``scripts/bench_wakeword.py`` (the positives as one stream, one hour of speechless
noise, one hour of unrelated speech) and the webrtc VAD per 60 ms block, and keeps
every score (cached beside the corpus: a re-run only analyses). openWakeWord's gated
scores are the ungated ones on the chunks a gate hands over once warm (the gate's
invariant, checked in tests/kiosk), so every gate and rule is simulated on the
traces with the real :class:`~voicebot.kiosk.gate.SpeechGate` and the rule's code:

- per take, both engines' highest score from 1 s before to 1.5 s after the word's end;
- the cascade: openWakeWord runs only while microWakeWord's score has been at or
  over a low threshold (the gate's "voiced" input), with the gate's pre-roll and
  hangover: share of each hour it ran on (→ CPU) and positives lost against
  openWakeWord alone;
- fusion rules, thresholds chosen on the takes of three voices and reported on the
  other three and all, at 0 false accepts over both negative hours, with the margin
  to the best negative (without and with the detector's onset window);
- ``--fused OWW,MWW``: the kiosk's detector with microWakeWord as its second engine
  at those thresholds, run for real over the corpus (minutes): detection, false
  accepts, CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_wakeword as bw  # noqa: E402
from bench_wakefusion_analysis import analyse  # noqa: E402

from voicebot.capture.segmenter import SegmenterConfig  # noqa: E402
from voicebot.capture.vad import UtteranceDetector  # noqa: E402
from voicebot.capture.vadmodels import VoicedTap, make_classifier  # noqa: E402
from voicebot.kiosk.engines import open_engine  # noqa: E402

RATE = bw.RATE
BLOCK = bw.BLOCK
OWW_CHUNK = 1280
MWW_CHUNK = 480


@dataclasses.dataclass
class Traces:
    """Every chunk's score of both engines (NaN: no score yet) and the VAD per block."""

    oww: np.ndarray  # float32, chunk k ends at (k + 1) * OWW_CHUNK
    mww: np.ndarray  # float32, chunk k ends at (k + 1) * MWW_CHUNK
    voiced: np.ndarray  # bool, block k = [k * BLOCK, (k + 1) * BLOCK)
    cpu_s: dict[str, float]  # engine → process time spent

    @property
    def samples(self) -> int:
        return len(self.voiced) * BLOCK


def vad_flags(clips: list[np.ndarray]) -> np.ndarray:
    """The webrtc VAD's verdict per block, a fresh VAD per clip as ``bench_wakeword.listen``
    has (the clips change noise: one webrtcvad across them takes fan noise for speech)."""
    voiced = []
    for clip in clips:
        tap = VoicedTap(make_classifier("webrtc", 3))
        segmenter = UtteranceDetector(SegmenterConfig(), classify=tap)
        for i in range(0, len(clip) - BLOCK + 1, BLOCK):
            segmenter.feed(clip[i:i + BLOCK].tobytes())
            voiced.append(tap.take())
    return np.array(voiced, bool)


def run_traces(clips: list[np.ndarray], model: str) -> Traces:
    """Both engines on every chunk of ``clips`` (one continuous stream), VAD per block."""
    stream = np.concatenate([c[:len(c) // BLOCK * BLOCK] for c in clips])
    voiced = vad_flags(clips)
    out: dict[str, np.ndarray] = {}
    cpu: dict[str, float] = {}
    for engine, n in (("openwakeword", OWW_CHUNK), ("microwakeword", MWW_CHUNK)):
        eng = open_engine(engine, model)
        scores = np.full(len(stream) // n, np.nan, np.float32)
        t0 = time.process_time()
        for k in range(len(scores)):
            s = eng.score(stream[k * n:(k + 1) * n])
            if s is not None:
                scores[k] = s
        cpu[engine] = time.process_time() - t0
        eng.close()
        out[engine] = scores
    return Traces(out["openwakeword"], out["microwakeword"], voiced, cpu)


def cached_traces(cache: Path, key: str, clips: list[np.ndarray], model: str) -> Traces:
    path = cache / ("fusion-" + hashlib.sha1(key.encode()).hexdigest()[:16] + ".npz")
    if path.exists():
        z = np.load(path)
        return Traces(z["oww"], z["mww"], vad_flags(clips),
                      {"openwakeword": float(z["cpu_oww"]), "microwakeword": float(z["cpu_mww"])})
    t = run_traces(clips, model)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, oww=t.oww, mww=t.mww, voiced=t.voiced, cpu_oww=t.cpu_s["openwakeword"],
             cpu_mww=t.cpu_s["microwakeword"])
    os.replace(tmp, path)
    return t


def part_fused(clips: list[bw.Clip], negs: dict[str, list[np.ndarray]], threshold: float,
               second_threshold: float, onset_window_ms: int | None) -> None:
    """The kiosk's detector with microWakeWord as its second engine, run for real."""
    from voicebot.kiosk.wakeword import WakeWordConfig, WakeWordDetector

    config = WakeWordConfig(threshold=threshold, second_engine="microwakeword",
                            second_threshold=second_threshold, onset_window_ms=onset_window_ms)
    print(f"\nthe detector, run: openWakeWord >= {threshold:g} (VAD-gated) OR microWakeWord >= "
          f"{second_threshold:g} (every chunk), onset window {onset_window_ms} ms", flush=True)
    samples, ends = bw.positive_stream(clips)
    detector = WakeWordDetector(config)
    found, _, _, cpu, seconds = bw._stream_through(detector, samples, bw.Chain())
    detector.close()
    hits = sum(any(-bw.RATE <= d.end_position - e <= 1.5 * bw.RATE for d in found) for e in ends)
    print(f"  positives: {hits}/{len(ends)} = {100 * hits / len(ends):.1f} % "
          f"({len(found)} detections)", flush=True)
    for label, clips_ in negs.items():
        detector = WakeWordDetector(config)
        found, _, _, cpu, seconds = bw._stream_through(detector, clips_, bw.Chain())
        share = detector.chunks_run * OWW_CHUNK / RATE / seconds
        detector.close()
        print(f"  {label} {seconds / 3600:.2f} h: false accepts {len(found)}"
              + "".join(f" (minute {d.end_position // (60 * RATE)}, {d.score:.2f})" for d in found)
              + f"; CPU of both engines {100 * cpu / seconds:.2f} % (openWakeWord ran on "
              f"{100 * share:.0f} % of the audio)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="hey_jarvis")
    ap.add_argument("--cache", type=Path, default=bw.default_cache())
    ap.add_argument("--fused", metavar="OWW,MWW", default=None,
                    help="also run the detector with microWakeWord as second engine at these "
                         "thresholds (e.g. 0.5,0.8) over the corpus (minutes)")
    ap.add_argument("--onset-window-ms", type=int, default=1800,
                    help="--fused: the detector's onset window (0: off)")
    args = ap.parse_args()
    minutes = 10 if args.quick else 60
    t0 = time.monotonic()
    clips = bw.load_positives(args.cache, [args.model], args.quick)
    noise, speech = bw.load_negatives(args.cache, minutes)
    samples, ends = bw.positive_stream(clips)
    q = "quick" if args.quick else "full"
    pos = cached_traces(args.cache, f"v1/{args.model}/pos/{q}", samples, args.model)
    print(f"positives traced ({time.monotonic() - t0:.0f} s)", flush=True)
    negs = {}
    for label, clips_ in (("noise", noise), ("speech", speech)):
        negs[label] = cached_traces(args.cache, f"v1/{args.model}/{label}/{minutes}",
                                    clips_, args.model)
        print(f"{label} traced ({time.monotonic() - t0:.0f} s)", flush=True)
    analyse(pos, ends, [c.name for c in clips], negs)
    if args.fused:
        a, c = (float(x) for x in args.fused.split(","))
        part_fused(clips, {"noise": noise, "speech": speech}, a, c, args.onset_window_ms or None)


if __name__ == "__main__":
    main()
