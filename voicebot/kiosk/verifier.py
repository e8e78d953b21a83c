"""A second check on openWakeWord's detections, learnt from the household's own voices.

openWakeWord calls this a *custom verifier model*: a small classifier trained on a
few takes of the wake word by the people who will use the device, run only when the
shipped model's score passes a low bar (``base_threshold``). The shipped model then
finds every candidate (at 0.02 it misses far fewer words than at its default 0.5)
and the verifier, which has heard these voices say the word, keeps only the real
ones. Enrolled with the household reading a passage as well (:mod:`.enroll`), it took
hey_jarvis from 72 % to 95-96 % of the benchmark's takes with no false accept in its
two negative hours (``scripts/bench_verifier.py``; README "Wake-word enrolment").

Features: the window of speech embeddings the model itself scores (openWakeWord's
16 × 96 embeddings, 1.28 s), standardised; the classifier: L2-regularised logistic
regression, classes weighted to balance. Written here with numpy rather than taken
from scikit-learn: it is thirty lines, and scikit-learn (with scipy) would add
~100 MB to a Raspberry Pi install for one linear model.

Pure: arrays in, a :class:`Verifier` out; :meth:`Verifier.save` / :func:`load_verifier`
are the only file access. Any thread; a verifier is immutable.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = ["Verifier", "train_verifier", "load_verifier", "VERIFIER_FORMAT"]

#: Bumped when the saved layout changes (a file of another format is refused).
VERIFIER_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Verifier:
    """A trained verifier for the wake-word model ``model``.

    A chunk is a detection when the model's score is ≥ ``base_threshold`` and
    :meth:`probability` of the model's embedding window is ≥ ``threshold``.
    """

    model: str
    base_threshold: float
    threshold: float
    mean: np.ndarray  # (features,) float32
    scale: np.ndarray  # (features,) float32
    weights: np.ndarray  # (features,) float32
    bias: float
    window_shape: tuple[int, int]

    def probability(self, window: np.ndarray) -> float:
        """How sure the verifier is that ``window`` (the model's embedding window,
        ``window_shape``) ends the wake word, 0…1."""
        x = (np.asarray(window, np.float32).reshape(-1) - self.mean) / self.scale
        return float(_sigmoid(float(x @ self.weights) + self.bias))

    def save(self, path: str | Path) -> None:
        """Write it as a ``.npz`` (no pickles): :func:`load_verifier` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, format=np.int32(VERIFIER_FORMAT), model=np.str_(self.model),
                     base_threshold=np.float32(self.base_threshold),
                     threshold=np.float32(self.threshold), mean=self.mean,
                     scale=self.scale, weights=self.weights, bias=np.float32(self.bias),
                     window_shape=np.array(self.window_shape, np.int32))
        tmp.replace(path)


def load_verifier(path: str | Path) -> Verifier:
    """Read a verifier written by :meth:`Verifier.save`; :class:`ConfigError` if the
    file is missing, damaged or of another format."""
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as f:
            if int(f["format"]) != VERIFIER_FORMAT:
                raise ConfigError(f"wake word verifier {str(path)!r} is of format "
                                  f"{int(f['format'])}, not {VERIFIER_FORMAT}: enrol again")
            shape = tuple(int(v) for v in f["window_shape"])
            v = Verifier(model=str(f["model"]), base_threshold=float(f["base_threshold"]),
                         threshold=float(f["threshold"]), mean=f["mean"].astype(np.float32),
                         scale=f["scale"].astype(np.float32),
                         weights=f["weights"].astype(np.float32), bias=float(f["bias"]),
                         window_shape=(shape[0], shape[1]))
    except ConfigError:
        raise
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"cannot read wake word verifier {str(path)!r}: "
                          f"{type(exc).__name__}") from None
    if not (v.mean.shape == v.scale.shape == v.weights.shape == (shape[0] * shape[1],)):
        raise ConfigError(f"wake word verifier {str(path)!r} is damaged (shapes)")
    return v


def train_verifier(model: str, positives: np.ndarray, negatives: np.ndarray, *,
                   base_threshold: float = 0.02, threshold: float = 0.7,
                   l2: float = 1.0, iterations: int = 400) -> Verifier:
    """Learn a verifier from embedding windows: ``positives`` (n, 16, 96) taken where
    the wake word was said, ``negatives`` (m, 16, 96) where it was not (the windows
    the model passed at ``base_threshold`` in speech that is not the wake word are the
    ones that matter). Deterministic: the same windows give the same verifier.
    """
    pos = np.asarray(positives, np.float32)
    neg = np.asarray(negatives, np.float32)
    if pos.ndim != 3 or neg.ndim != 3 or pos.shape[1:] != neg.shape[1:]:
        raise ValueError("positives and negatives must be (n, windows, features) alike")
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("a verifier needs positive and negative windows")
    shape = (int(pos.shape[1]), int(pos.shape[2]))
    x = np.vstack([pos.reshape(len(pos), -1), neg.reshape(len(neg), -1)])
    y = np.concatenate([np.ones(len(pos), np.float32), np.zeros(len(neg), np.float32)])
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + np.float32(1e-3)  # a constant feature must not divide by 0
    z = (x - mean) / scale
    # Each class weighs as much as the other: a few takes against many negatives.
    sample_weight = np.where(y == 1, len(neg) / len(pos), 1.0).astype(np.float32)
    sample_weight /= sample_weight.mean()
    w = np.zeros(z.shape[1], np.float32)
    b = np.float32(0.0)
    step = np.float32(0.5)  # the loss is smooth and standardised: plain gradient descent
    for _ in range(iterations):
        err = (_sigmoid(z @ w + b) - y) * sample_weight
        w -= step * (z.T @ err + l2 * w) / len(y)
        b -= step * err.mean()
    return Verifier(model=model, base_threshold=base_threshold, threshold=threshold,
                    mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                    weights=w.astype(np.float32), bias=float(b), window_shape=shape)


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))
    return out
