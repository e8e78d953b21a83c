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
placed more than 150 ms late (the ones that can lose the question's first word). Then
the detector as shipped (its default settings for ``--model``, the lags in
voicebot/kiosk/engines.py): its detections' ends and the ends it placed again
(voicebot/kiosk/wakeend.py), on every corpus; with ``--recognise``, how often the
question after the wake word is recognised when cut at each (as the embedded server
recognises it: pocketsphinx biased to its phrases).

Usage: .venv/bin/python scripts/bench_wakeend.py [--model hey_jarvis] [--threshold 0.5]
       [--seed-offset 0,1,2] [--windows 1,2,3,4,6] [--recognise]
(the corpora are made or read by bench_wakeword.py's cache; ~25 s of CPU per corpus here)
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT), str(ROOT / "tests")]

import bench_wakeword as W  # noqa: E402

from voicebot.kiosk.wakeword import (  # noqa: E402
    WakeDetection, WakePlaced, WakeWordConfig, WakeWordDetector)

RATE = 16_000
CHUNK = 1280  # openWakeWord's 80 ms


def positives(model: str, offset: int) -> tuple[list[np.ndarray], list[int]]:
    """The corpus's positives of ``model`` as one stream's clips, and the truth ends."""
    cache = W.default_cache(offset)
    cache.mkdir(parents=True, exist_ok=True)
    clips = [c for c in W.load_positives(cache, [model], False, offset) if c.wake == model]
    return W.positive_stream(clips)


def traced(model: str, offset: int) -> tuple[list[tuple[int, float]], list[int]]:
    """Every chunk score >= 0.01 over the corpus's positives of ``model``, and the truth."""
    samples, ends = positives(model, offset)
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


@dataclass
class Shipped:
    """The shipped detector's run over a corpus's positives, as one stream."""

    stream: np.ndarray
    clip_starts: list[int]
    ends: list[int]  # the truth, per take
    follows: list[str | None]  # the question after the wake word, per take
    found: list[WakeDetection]
    placed: list[WakePlaced]  # one per detection, or none (a model not placed again)

    def take_detections(self) -> list[tuple[int, int, int | None]]:
        """Per detected take: (take, detection's end, end placed again or None)."""
        out = []
        for k, end in enumerate(self.ends):
            i = next((i for i, d in enumerate(self.found)
                      if -1.5 * RATE <= d.end_position - end <= 1.5 * RATE), None)
            if i is not None:
                out.append((k, self.found[i].end_position,
                            self.placed[i].end_position if self.placed else None))
        return out


def shipped(model: str, offset: int) -> Shipped:
    """Run the shipped detector (its defaults for ``model``) over the corpus's positives."""
    specs = [s for s in W.positive_specs([model], False, offset) if s[0] == model]
    samples, ends = positives(model, offset)
    detector = WakeWordDetector(WakeWordConfig(model=model))
    placed: list[WakePlaced] = []
    found = W._stream_through(detector, samples, W.Chain(), placed=placed)[0]
    detector.close()
    assert len(placed) in (0, len(found)), "one placement per detection, or none"
    starts = [0]
    for clip in samples:
        starts.append(starts[-1] + len(clip))
    return Shipped(np.concatenate(samples), starts, ends, [s[5] for s in specs], found, placed)


def errors(run: Shipped) -> tuple[list[float], list[float]]:
    """Errors (ms) of the detections' ends and of the ends placed again, per detected take."""
    first, again = [], []
    for k, detected, placed in run.take_detections():
        first.append((detected - run.ends[k]) / 16)
        if placed is not None:
            again.append((placed - run.ends[k]) / 16)
    return first, again


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z ]", " ", text.lower()).split()


def recognised(run: Shipped) -> dict[str, tuple[int, int, int]]:
    """The question after each detected take, cut where the kiosk would cut it (the
    truth as a control, the detection's end, the end placed again) and recognised as the
    embedded server does: per cut, (questions recognised word for word, questions whose
    first word was recognised first, questions)."""
    from voicebot.server.assistant import SKILL_PHRASES
    from voicebot.speech.recognize import PocketsphinxRecognizer

    rec = PocketsphinxRecognizer(SKILL_PHRASES, max_decoders=1)
    counts: dict[str, list[int]] = {}
    for k, detected, placed in run.take_detections():
        question = run.follows[k]
        if question is None:
            continue
        cuts = {"truth": run.ends[k], "detection": detected}
        if placed is not None:
            cuts["placed again"] = placed
        for name, cut in cuts.items():
            audio = run.stream[cut:run.clip_starts[k + 1]]
            heard, said = _words(rec.transcribe(audio, RATE)), _words(question)
            c = counts.setdefault(name, [0, 0, 0])
            c[0] += heard == said
            c[1] += heard[:1] == said[:1]
            c[2] += 1
    return {name: (c[0], c[1], c[2]) for name, c in counts.items()}


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
    ap.add_argument("--recognise", action="store_true",
                    help="recognise the question after each cut (pocketsphinx, ~1 min)")
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
    print(f"the detector as shipped ({args.model}, its defaults)")
    for o in offsets:
        run = shipped(args.model, o)
        first, again = errors(run)
        print(f"  corpus {o}, {len(first)} of {len(run.ends)} takes: detection "
              f"{summary(first)}; "
              + (f"placed again {summary(again)}" if again else "not placed again"),
              flush=True)
        if args.recognise:
            print("    question after the cut, recognised (whole / first word): " + "; ".join(
                f"{name} {whole}/{n}, {first_word}/{n}"
                for name, (whole, first_word, n) in recognised(run).items()), flush=True)


if __name__ == "__main__":
    main()
