"""The second look's embedding windows on bench_wakeword's corpus, for bench_verifier.py.

The verifier combined with the speed-perturbed second look (kiosk/secondlook.py):
where the shipped model's score rises through ``maybe``, a fresh openWakeWord hears
the 2 s up to 320 ms after that chunk again, slowed down (x1.3 by default), as
``WakeWordDetector``'s ``Looker`` does it; this keeps, for each look, every chunk
the fresh model scores over the slowed audio: its score and its embedding window (what
a verifier would be asked about). The looks are taken from the model's candidates
(scripts/verifier_candidates.py, every chunk scored), so the trace runs the model
only over the looks. Cached in the corpus's cache directory.

The look is asked whatever the first score reaches (its "primary threshold" is 1.0:
with a verifier, a high score alone is not a detection).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

import bench_wakeword as B
from verifier_candidates import Candidates
from voicebot.kiosk.engines import OpenWakeWordEngine
from voicebot.kiosk.secondlook import SecondLook, SecondLookConfig
from voicebot.kiosk.looker import slow_down

__all__ = ["Looks", "looks"]

_VERSION = 1
DELAY_SAMPLES = 320 * 16
WINDOW_SAMPLES = 2000 * 16


class Looks:
    """Per look: ``triggers`` (its trigger position), ``starts`` (its first row in
    ``scores``/``windows``, n + 1 entries); per scored chunk of the looks: ``scores``
    (the fresh model's) and ``windows`` (n, 16, 96)."""

    def __init__(self, triggers: np.ndarray, starts: np.ndarray, scores: np.ndarray,
                 windows: np.ndarray, cpu_s: float) -> None:
        self.triggers, self.starts, self.scores, self.windows = triggers, starts, scores, windows
        self.cpu_s = cpu_s

    def __len__(self) -> int:
        return len(self.triggers)


def _trace(model: str, stream: np.ndarray, c: Candidates, maybe: float, factor: float) -> Looks:
    timing = SecondLook(SecondLookConfig(maybe=maybe, primary_threshold=1.0,
                                         delay_samples=DELAY_SAMPLES,
                                         window_samples=WINDOW_SAMPLES, chunk_samples=1280))
    for p, s in zip(c.positions, c.scores):
        timing.feed(int(p), float(s))
    requests = timing.due(1 << 62)
    engine = OpenWakeWordEngine(model)
    n = engine.chunk_samples
    triggers, starts, scores, windows = [], [0], [], []
    t0 = B.time.process_time()
    for r in requests:
        audio = stream[max(0, r.start):min(len(stream), r.end)]
        slowed = slow_down(audio, factor)
        slowed = slowed[len(slowed) % n:]
        engine.reset()
        for i in range(0, len(slowed), n):
            score = engine.score(slowed[i:i + n])
            if score is not None:
                scores.append(score)
                windows.append(engine.window().copy())
        triggers.append(r.trigger_position)
        starts.append(len(scores))
    cpu = B.time.process_time() - t0
    engine.close()
    return Looks(np.asarray(triggers, np.int64), np.asarray(starts, np.int64),
                 np.asarray(scores, np.float32),
                 np.asarray(windows, np.float32).reshape(-1, 16, 96), cpu)


def looks(cache: Path, model: str, label: str, clips: list[np.ndarray], c: Candidates,
          onset_window_ms: int | None, maybe: float, factor: float = 1.3) -> Looks:
    """The second looks over ``clips`` (one continuous stream, whose candidates are
    ``c``) at ``maybe``, slowed by ``factor``; cached under ``label``."""
    key = hashlib.sha1(f"v{_VERSION}/{model}/{label}/{onset_window_ms}/{len(clips)}/{maybe}/"
                       f"{factor}".encode())
    path = cache / "verifier" / f"looks-{key.hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as f:
            return Looks(f["triggers"], f["starts"], f["scores"], f["windows"],
                         float(f["cpu_s"]))
    lk = _trace(model, np.concatenate(clips), c, maybe, factor)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, triggers=lk.triggers, starts=lk.starts, scores=lk.scores,
             windows=lk.windows, cpu_s=np.float64(lk.cpu_s))
    tmp.replace(path)
    return lk
