"""The wake-word model's candidates on bench_wakeword's corpus, for bench_verifier.py.

Every chunk the shipped openWakeWord model scores (at or above ``floor``: by default
every chunk it scores while the VAD gate lets it run), as the kiosk's detector hears
the corpus (VAD-gated, 60 ms blocks, onset window off or on): its end
position, its score and a copy of its embedding window (what a verifier looks at).
A verifier applied to these afterwards is exactly the detector with that verifier
(the verifier only sees chunks over its low bar, ``base_threshold``, and the trigger's refractory
period and onset window are applied to its probabilities the same way), so each
enrolment is scored without running the model over the two hours again. Cached in
the corpus's cache directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import bench_wakeword as B
from voicebot.kiosk.engines import OpenWakeWordEngine
from voicebot.kiosk.wakeword import WakeWordConfig, WakeWordDetector

__all__ = ["Candidates", "candidates"]

_VERSION = 2
#: Every scored chunk: the trigger's threshold must be > 0, and a score is > 0 (a
#: sigmoid; float32 does not reach 0 before ~1e-45).
EVERY_CHUNK = 1e-45


class Candidates:
    """Positions (int64), base scores (float32), windows (n, 16, 96) float32."""

    def __init__(self, positions: np.ndarray, scores: np.ndarray, windows: np.ndarray,
                 seconds: float, cpu_s: float) -> None:
        self.positions, self.scores, self.windows = positions, scores, windows
        self.seconds, self.cpu_s = seconds, cpu_s


def _trace(model: str, clips: list[np.ndarray], onset_window_ms: int | None,
           floor: float) -> Candidates:
    detector = WakeWordDetector(WakeWordConfig(model=model, threshold=floor, refractory_ms=0,
                                               end_lag_ms=0, onset_window_ms=onset_window_ms))
    engine = detector._engines[0]
    assert isinstance(engine, OpenWakeWordEngine)
    positions, scores, windows = [], [], []
    seconds = cpu = 0.0
    position = 0
    for clip in clips:
        # One 60 ms block completes at most one 80 ms chunk: after a feed that found
        # something, the engine's window is that chunk's.
        tap = B.VoicedTap(B.make_classifier("webrtc", 3))
        segmenter = B.UtteranceDetector(B.SegmenterConfig(), classify=tap)
        for i in range(0, len(clip) - B.BLOCK + 1, B.BLOCK):
            block = clip[i:i + B.BLOCK]
            segmenter.feed(block.tobytes())
            t0 = B.time.process_time()
            found = detector.feed(block, position, tap.take())
            cpu += B.time.process_time() - t0
            for d in found:
                positions.append(d.end_position)
                scores.append(d.score)
                windows.append(engine.window().copy())
            position += B.BLOCK
        seconds += len(clip) / B.RATE
    detector.close()
    return Candidates(np.asarray(positions, np.int64), np.asarray(scores, np.float32),
                      np.asarray(windows, np.float32).reshape(-1, 16, 96), seconds, cpu)


def candidates(cache: Path, model: str, label: str, clips: list[np.ndarray],
               onset_window_ms: int | None, floor: float = EVERY_CHUNK) -> Candidates:
    """The candidates of ``clips`` (one continuous stream), cached under ``label``:
    the chunks scored at or above ``floor``."""
    key = hashlib.sha1(f"v{_VERSION}/{model}/{label}/{onset_window_ms}/{len(clips)}/{floor}"
                       .encode())
    path = cache / "verifier" / f"candidates-{key.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as f:
            return Candidates(f["positions"], f["scores"], f["windows"],
                              float(f["seconds"]), float(f["cpu_s"]))
    c = _trace(model, clips, onset_window_ms, floor)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, positions=c.positions, scores=c.scores, windows=c.windows,
             seconds=np.float64(c.seconds), cpu_s=np.float64(c.cpu_s))
    tmp.replace(path)
    return c


if __name__ == "__main__":  # fill the cache: positives and the two hours, onset off and on
    import sys
    import time

    seed_offset = int(sys.argv[1]) if len(sys.argv) > 1 else 0  # bench_wakeword's corpus
    cache = B.default_cache(seed_offset)
    cache.mkdir(parents=True, exist_ok=True)
    clips = B.load_positives(cache, ["hey_jarvis"], False, seed_offset)
    noise, speech = B.load_negatives(cache, 60, seed_offset)
    samples, _ = B.positive_stream(clips)
    for onset in (None, 1800):
        for label, stream in (("positives", samples), ("noise", noise), ("speech", speech)):
            t0 = time.monotonic()
            c = candidates(cache, "hey_jarvis", label, stream, onset)
            print(f"{label} onset {onset}: {len(c.scores)} chunks scored, "
                  + ", ".join(f"{(c.scores >= bar).sum()} >= {bar:g}"
                              for bar in (0.001, 0.002, 0.005, 0.01, 0.02))
                  + f", min score {c.scores.min(initial=1.0):.2g}, {c.seconds / 60:.0f} min, "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
