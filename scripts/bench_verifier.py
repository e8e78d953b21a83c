#!/usr/bin/env python3
"""The wake-word verifier (voicebot/kiosk/verifier.py): detection and false accepts
with a verifier enrolled from the household's voices, on bench_wakeword's corpus.

Usage::

    .venv/bin/python scripts/bench_verifier.py [--quick] [--model hey_jarvis] [--takes 4]

Enrolment as ``voicebot kiosk --enroll`` does it (kiosk/enroll.py: the takes, the
synthetic negatives it makes itself), with takes made apart from the test corpus:
each of the corpus's 6 voices says the wake word ``--takes`` times, alone, at rates
and levels the corpus does not use (160 and 195 wpm, 0 and -6 dB) over other noise
seeds. Then bench_wakeword's positives (108 takes) and its two negative hours are
heard through the kiosk's detector with the verifier, gated by the VAD as shipped.
Fast, not real time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import bench_wakeword as B
from voicebot.kiosk.enroll import enroll
from voicebot.kiosk.wakeword import WakeWordConfig, WakeWordDetector
from speech import room_noise  # noqa: E402  (bench_wakeword put tests/ on the path)

ENROL_WPMS = (160, 195)
ENROL_GAINS_DB = (0.0, -6.0)
ENROL_NOISES = (("pink", -50.0), ("fan", -42.0))


def enrol_takes(model: str, per_voice: int) -> list[np.ndarray]:
    takes, seed = [], 50_000
    for voice in B.VOICES:
        for k in range(per_voice):
            seed += 1
            wpm = ENROL_WPMS[k % 2]
            gain = ENROL_GAINS_DB[(k // 2) % 2]
            clip = B._positive(model, voice, wpm, gain, ENROL_NOISES[k % 2], None, seed)
            takes.append(clip.samples)
    return takes


def trace(model: str, verifier: Path, clips: list[np.ndarray],
          onset_window_ms: int | None = None) -> B.Trace:
    detector = WakeWordDetector(WakeWordConfig(model=model, threshold=0.01, refractory_ms=0,
                                               end_lag_ms=0, verifier=str(verifier),
                                               onset_window_ms=onset_window_ms))
    found, starts, vad_cpu, wake_cpu, seconds = B._stream_through(detector, clips, B.Chain())
    detector.close()
    return B.Trace([(d.end_position, d.score) for d in found], seconds, vad_cpu, wake_cpu,
                   starts)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="hey_jarvis")
    ap.add_argument("--takes", type=int, default=4, help="enrolment takes per voice")
    ap.add_argument("--onset-window-ms", type=int, default=None,
                    help="the detector's onset_window_ms (see bench_wakeword)")
    ap.add_argument("--parts", default="noise,speech")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "voicebot"
                    / "bench_wakeword")
    args = ap.parse_args()
    minutes = 10 if args.quick else 60
    clips = B.load_positives(args.cache, [args.model], args.quick)
    noise, speech = B.load_negatives(args.cache, minutes)
    t0 = time.process_time()
    tone = B._to_int16(room_noise("fan", 2 * B.RATE, -45.0, np.random.default_rng(3)))
    result = enroll(args.model, enrol_takes(args.model, args.takes), room_tone=tone,
                    cache=args.cache / "verifier")
    v = result.verifier
    print(f"enrolment: {result.takes_heard}/{result.takes} takes heard, "
          f"{result.positive_windows} positive and {result.negative_windows} negative windows, "
          f"{time.process_time() - t0:.1f} s CPU (negatives cached after the first run); "
          f"on its own windows: lowest positive {result.positive_min:.3f}, highest "
          f"negative {result.negative_max:.3f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.npz"
        v.save(path)
        samples, ends = B.positive_stream(clips)
        pos = trace(args.model, path, samples, args.onset_window_ms)
        tops: dict[str, float] = {}
        fired: dict[str, list[tuple[int, float]]] = {}
        for label, negs in (("noise", noise), ("speech", speech)):
            if label not in args.parts:
                continue
            nt = trace(args.model, path, negs, args.onset_window_ms)
            where = ", ".join(f"minute {p // (60 * B.RATE)} at {p % (60 * B.RATE) / B.RATE:.1f} s"
                              f" ({sc:.3f})" for p, sc in B.fire(nt.scores, v.threshold))
            tops[label] = max((s for _, s in nt.scores), default=0.0)
            fired[label] = nt.scores
            print(f"  {label} {nt.seconds / 3600:.2f} h: highest verifier probability "
                  f"{tops[label]:.3f}; false accepts at {v.threshold:g}: "
                  f"{len(B.fire(nt.scores, v.threshold))} {where}; wake-word CPU "
                  f"{100 * nt.wake_cpu_s / nt.seconds:.2f} % of the audio's time", flush=True)
    for t in sorted({round(v.threshold, 4), *B.THRESHOLDS, 0.995, 0.998, 0.999}):
        sc = B.score_positives(pos, ends, t, 0.0)
        fa = "  ".join(f"{label} {len(B.fire(scores, t))}" for label, scores in fired.items())
        print(f"  verifier threshold {t:<6g} {sc.hits:3d}/{sc.total} = "
              f"{100 * sc.hits / sc.total:5.1f} %   false accepts: {fa}"
              + ("   <- chosen at enrolment" if t == round(v.threshold, 4) else ""))


if __name__ == "__main__":
    main()
