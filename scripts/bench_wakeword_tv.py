#!/usr/bin/env python3
"""The wake word said over a TV: detection with talk in the room, onset window on and off.

Usage::

    .venv/bin/python scripts/bench_wakeword_tv.py [--model hey_jarvis] [--levels -20,-10]
        [--windows 0,1800] [--threshold 0.5]

The positives of ``scripts/bench_wakeword.py`` (its cached corpus), each with a
stretch of its hour of unrelated eSpeak speech mixed under it, at each level in dB
against the wake word itself (the RMS of the word's last 0.75 s), fed as one
continuous capture stream through the kiosk's chain (webrtc VAD, the VAD-gated
openWakeWord), as ``bench_wakeword`` feeds them. Prints the detection rate per level
and onset window (``onset_window_ms``, 0: off) and the model's CPU. A room where
speech rarely pauses is what the onset window (the wake word must begin a run of
speech) can miss; this measures how much.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_wakeword as bw  # noqa: E402

#: The part of the word the TV's level is set against (the word ends at the truth).
WORD_S = 0.75


def over_tv(clips: list[bw.Clip], tv: np.ndarray, level_db: float | None) -> list[bw.Clip]:
    """Each clip with the next stretch of ``tv`` under it, ``level_db`` below the word
    (None: the clips as they are)."""
    if level_db is None:
        return clips
    out, offset = [], 0
    for clip in clips:
        x = clip.samples.astype(np.float32)
        if offset + len(x) > len(tv):
            offset = 0
        bg = tv[offset:offset + len(x)]
        offset += len(x)
        word = x[max(0, clip.wake_end - int(WORD_S * bw.RATE)):clip.wake_end]
        gain = (np.sqrt(np.mean(word ** 2)) / max(1.0, float(np.sqrt(np.mean(bg ** 2))))
                * 10 ** (level_db / 20))
        mixed = np.clip(x + gain * bg, -32768, 32767).astype(np.int16)
        out.append(bw.Clip(clip.name, mixed, clip.wake, clip.wake_end))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hey_jarvis")
    ap.add_argument("--levels", default="-20,-10", help="dB of the TV against the word")
    ap.add_argument("--windows", default="0,1800", help="onset_window_ms values (0: off)")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--cache", type=Path, default=bw.default_cache())
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    clips = bw.load_positives(args.cache, [args.model], quick=False)
    _, speech = bw.load_negatives(args.cache, 60)
    tv = np.concatenate(speech).astype(np.float32)
    levels: list[float | None] = [None] + [float(v) for v in args.levels.split(",") if v]
    windows = [int(v) for v in args.windows.split(",")]
    print(f"{args.model} at {args.threshold}, {len(clips)} takes, openWakeWord VAD-gated; "
          "the TV: unrelated eSpeak speech under each take")
    print(f"{'TV level':>10} {'onset window':>13} {'detected':>14} {'model CPU':>10}")
    for level in levels:
        samples, ends = bw.positive_stream(over_tv(clips, tv, level))
        for window in windows:
            t = bw.trace("openwakeword", args.model, "vad", samples,
                         onset_window_ms=window or None)
            s = bw.score_positives(t, ends, args.threshold, 0.0)
            label = "none" if level is None else f"{level:+g} dB"
            print(f"{label:>10} {window or 'off':>13} {s.hits:>5}/{s.total} {100 * s.hits / s.total:5.1f} %"
                  f" {100 * t.wake_cpu_s / t.seconds:9.1f} %", flush=True)


if __name__ == "__main__":
    main()
