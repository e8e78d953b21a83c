#!/usr/bin/env python3
"""Where the wake word ends: the detector's placement against the truth, and a better one.

The kiosk sends the audio after the wake word's end as the question, so an end placed
late costs the question its first word. The detector places it where openWakeWord's
score first crosses the threshold, minus a fixed lag (``ScoreTrigger.end_lag_samples``);
that moment varies with the voice and the rate. This measures, on bench_wakeword.py's
corpus (its positives, exact truth), that placement against one from the chunk where
the score peaks within the next ``W`` chunks (80 ms each) after the crossing. Each
method's lag is fitted on the first corpus (the median of placement minus truth) and
applied unchanged to the others (other seeds: ``--seed-offset``), so those are held out.

Printed per method and corpus: detected takes, |error| median and p90, and how many were
placed more than 150 ms late (the ones that can lose the question's first word).

Usage: .venv/bin/python scripts/bench_wakeend.py [--model hey_jarvis] [--threshold 0.5]
       [--seed-offset 0,1,2] [--windows 1,2,3,4,6]
(the corpora are made or read by bench_wakeword.py's cache; ~25 s of CPU per corpus here)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT), str(ROOT / "tests")]

import bench_wakeword as W  # noqa: E402

RATE = 16_000
CHUNK = 1280  # openWakeWord's 80 ms


def traced(model: str, offset: int) -> tuple[list[tuple[int, float]], list[int]]:
    """Every chunk score >= 0.01 over the corpus's positives of ``model``, and the truth."""
    cache = W.default_cache(offset)
    cache.mkdir(parents=True, exist_ok=True)
    clips = [c for c in W.load_positives(cache, [model], False, offset) if c.wake == model]
    samples, ends = W.positive_stream(clips)
    return W.trace("openwakeword", model, "vad", samples).scores, ends


def placements(scores: list[tuple[int, float]], ends: list[int], threshold: float,
               window: int) -> list[tuple[int, int, int]]:
    """Per detected take: (crossing chunk's end, peak chunk's end, truth)."""
    out = []
    fired = W.fire(scores, threshold)
    for end in ends:
        cross = W.detection_of(fired, end)
        if cross is not None:
            peak = max((s, p) for p, s in scores if cross <= p <= cross + window * CHUNK)[1]
            out.append((cross, peak, end))
    return out


def summary(errors_ms: list[float]) -> str:
    mags = sorted(abs(e) for e in errors_ms)
    p90 = mags[int(0.9 * (len(mags) - 1))]
    late = sum(e > 150 for e in errors_ms)
    return (f"|error| median {statistics.median(mags):3.0f} ms, p90 {p90:3.0f} ms, "
            f"late > 150 ms: {late:2d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", default="hey_jarvis")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--seed-offset", default="0,1,2",
                    help="corpora; the lags are fitted on the first")
    ap.add_argument("--windows", default="1,2,3,4,6", help="chunks after the crossing")
    args = ap.parse_args()
    offsets = [int(x) for x in args.seed_offset.split(",")]
    data = {o: traced(args.model, o) for o in offsets}
    for window in (int(x) for x in args.windows.split(",")):
        fit = placements(*data[offsets[0]], args.threshold, window)
        lag_cross = statistics.median(c - e for c, _, e in fit)
        lag_peak = statistics.median(p - e for _, p, e in fit)
        print(f"peak within {window} chunks ({window * 80} ms) after the crossing; lags "
              f"fitted on corpus {offsets[0]}: crossing {lag_cross / 16:.0f} ms, peak "
              f"{lag_peak / 16:.0f} ms")
        for o in offsets:
            est = placements(*data[o], args.threshold, window)
            cross = [(c - lag_cross - e) / 16 for c, _, e in est]
            peak = [(p - lag_peak - e) / 16 for _, p, e in est]
            held = "" if o == offsets[0] else " (held out)"
            print(f"  corpus {o}{held}, {len(est)} takes: crossing {summary(cross)}; "
                  f"peak {summary(peak)}", flush=True)


if __name__ == "__main__":
    main()
