"""Enrolment: the household saying the wake word and reading a passage → a
:class:`Verifier`.

``voicebot kiosk --enroll`` records the takes and a reading of the passage
(:mod:`.passage`) from the microphone (:mod:`.enroll_cli`), ``--enroll-from
FILE.wav …`` reads them from files. Then:

- positives: the embedding windows of the takes where the shipped model's score
  passes the verifier's low bar (``base_threshold``): what the verifier will be
  asked about when the word is said;
- negatives: every window of the readings (the same people saying other things,
  among them words that sound like the wake word: what the verifier must refuse
  most), and the model's highest-scoring windows in speech that is not the wake
  word, synthesised with eSpeak NG in several other voices over the room tone
  recorded before the takes (made once per model and cached).

Runs on the calling thread (a command, not the kiosk's loop): the model runs over
a few minutes of audio (about 40 s of CPU here for the synthetic negatives, once),
and cross-validation trains 16 verifiers (tens of seconds for six people).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..errors import ConfigError
from .engines import OpenWakeWordEngine
from .verifier import Verifier, train_verifier

__all__ = ["EnrolResult", "enroll", "default_verifier_path", "model_windows",
           "synthetic_negatives",
           "negatives_path", "NEGATIVE_MINUTES"]

#: The negatives' speech: random words of pocketsphinx's CMU dictionary (a core
#: dependency, 130,000 words), 30 % of them sharing a pair of sounds with the wake word
#: (the near misses a verifier must learn to refuse).
_ADVERSARIAL_SHARE = 0.3
_NEGATIVE_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx")
#: Windows kept from the negatives beyond those over the low bar: the model's
#: highest-scoring ones (near misses), so that a quiet model still gives enough.
_HARD_NEGATIVES = 200
_CACHE_VERSION = 2
#: Each take is also learnt sped up and slowed down (Kaldi's speed perturbation): a
#: person says the wake word faster or slower than when they enrolled.
_SPEEDS = (0.9, 1.12)
_FOLDS = 4
#: Cross-validation deals a reading's windows into folds in blocks this long (2.6 s):
#: windows 80 ms apart overlap, one fold must not hold the neighbours of another's.
_READING_BLOCK = 32


@dataclass(frozen=True)
class EnrolResult:
    """What enrolment made: the verifier, and how the takes went."""

    verifier: Verifier
    takes_heard: int  # takes in which the shipped model passed the low bar
    takes: int
    positive_windows: int
    negative_windows: int
    reading_windows: int  # of the negative windows, those of the readings
    #: The verifier's highest probability on the negatives and lowest on the takes
    #: it was trained on (a quick sign of the margin, not a measurement).
    negative_max: float
    positive_min: float


def default_verifier_path(model: str) -> Path:
    """Where ``--enroll`` saves the verifier for ``model`` and the kiosk looks for it:
    ``$XDG_DATA_HOME/voicebot/wakeword/<model>.verifier.npz``."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "voicebot" / "wakeword" / f"{Path(model).stem}.verifier.npz"


def model_windows(engine: OpenWakeWordEngine, samples: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``engine`` over int16 16 kHz ``samples``: per scored chunk its score, its
    end sample, and a copy of its embedding window."""
    step = engine.chunk_samples
    scores, ends, windows = [], [], []
    for start in range(0, len(samples) - step + 1, step):
        score = engine.score(samples[start:start + step])
        if score is not None:
            scores.append(score)
            ends.append(start + step)
            windows.append(engine.window().copy())
    shape = (0, *engine.window().shape)
    return (np.asarray(scores, np.float32), np.asarray(ends, np.int64),
            np.asarray(windows, np.float32).reshape(-1, *shape[1:]))


#: Minutes of synthetic speech the negatives are made from (about 40 s of CPU here).
NEGATIVE_MINUTES = 8.0


def negatives_path(cache: Path, model: str, *, base_threshold: float,
                   room_tone: np.ndarray | None, minutes: float = NEGATIVE_MINUTES) -> Path:
    """Where :func:`synthetic_negatives` keeps its windows for these arguments."""
    key = hashlib.sha1(f"v{_CACHE_VERSION}/{model}/{base_threshold}/{minutes}".encode())
    if _audible(room_tone):
        key.update(np.ascontiguousarray(room_tone, np.int16).tobytes())
    return cache / f"negatives-{key.hexdigest()[:16]}.npy"


def _audible(room_tone: np.ndarray | None) -> bool:
    # Digital silence (a muted or virtual microphone) mixes in nothing: the same
    # speech, so the same cache entry as no room tone.
    return room_tone is not None and bool(np.any(room_tone))


def synthetic_negatives(model: str, *, base_threshold: float, room_tone: np.ndarray | None,
                        minutes: float = NEGATIVE_MINUTES, cache: Path | None = None,
                        engine_factory: Callable[[str], OpenWakeWordEngine] = OpenWakeWordEngine,
                        ) -> np.ndarray:
    """Embedding windows of ``model`` in synthetic speech that is not the wake word:
    those at or over ``base_threshold`` and the :data:`_HARD_NEGATIVES` highest. The
    speech is mixed over ``room_tone`` (looped) when given. Cached in ``cache``."""
    path = (negatives_path(cache, model, base_threshold=base_threshold, room_tone=room_tone,
                           minutes=minutes) if cache is not None else None)
    if path is not None and path.exists():
        cached: np.ndarray = np.load(path)
        return cached
    speech = _speech(minutes, model)
    if _audible(room_tone):
        tone = np.resize(np.asarray(room_tone, np.float32), len(speech))
        speech = np.clip(speech.astype(np.float32) + tone, -32768, 32767).astype(np.int16)
    engine = engine_factory(model)
    try:
        scores, _, windows = model_windows(engine, speech)
    finally:
        engine.close()
    keep = scores >= base_threshold
    keep[np.argsort(scores)[-_HARD_NEGATIVES:]] = True
    negatives = windows[keep]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, negatives)
        tmp.replace(path)
    return negatives


def enroll(model: str, takes: Sequence[np.ndarray], *, room_tone: np.ndarray | None = None,
           readings: Sequence[np.ndarray] = (),
           base_threshold: float = 0.02, threshold: float | None = None,
           positive_threshold: float | None = None,
           negatives: np.ndarray | None = None, cache: Path | None = None,
           engine_factory: Callable[[str], OpenWakeWordEngine] = OpenWakeWordEngine,
           ) -> EnrolResult:
    """Train a verifier for ``model`` from ``takes``: int16 16 kHz recordings, each
    holding the wake word said once. ``readings``: recordings of the same people
    reading other sentences (:mod:`.passage`), every window of them a negative: the
    household saying things that are not the wake word. ``negatives``: windows to use
    instead of :func:`synthetic_negatives`. ``threshold``: None chooses it (and the
    regularisation) by cross-validation over the enrolment's own recordings
    (:func:`_choose`). ``positive_threshold``: the takes' windows learnt as positives
    are those the model scores at or over it (None: ``base_threshold``, what the
    detector will ask the verifier about).

    Raises :class:`ConfigError` when the model heard the word in fewer than half of
    the takes (wrong word, or a microphone that hears little).
    """
    if not takes:
        raise ConfigError("enrolment needs at least one take of the wake word")
    per_take: list[np.ndarray] = []  # windows of each take heard, its speed versions too
    heard = 0
    positive_bar = base_threshold if positive_threshold is None else positive_threshold
    engine = engine_factory(model)
    try:
        name = engine.name
        for take in takes:
            found = []
            for version in _versions(np.asarray(take, np.int16)):
                scores, _, windows = model_windows(engine, _with_context(version, engine, room_tone))
                found.append(windows[scores >= positive_bar])
            heard += bool(len(found[0]))
            if sum(len(f) for f in found):
                per_take.append(np.concatenate(found))
        read = [model_windows(engine, np.asarray(r, np.int16))[2] for r in readings]
    finally:
        engine.close()
    if heard * 2 < len(takes):
        raise ConfigError(f"the {name} model heard the wake word in only {heard} of "
                          f"{len(takes)} takes: say it clearly, nearer the microphone "
                          "(`voicebot selftest` checks the microphone)")
    if negatives is None:
        negatives = synthetic_negatives(name if Path(model).suffix == "" else model,
                                        base_threshold=base_threshold, room_tone=room_tone,
                                        cache=cache, engine_factory=engine_factory)
    l2, chosen = _choose(per_take, negatives, read)
    pos = np.concatenate(per_take)
    negatives = np.concatenate([negatives, *read])
    verifier = train_verifier(name, pos, negatives, base_threshold=base_threshold,
                              threshold=chosen if threshold is None else threshold, l2=l2)
    return EnrolResult(
        verifier=verifier, takes_heard=heard, takes=len(takes),
        positive_windows=len(pos), negative_windows=len(negatives),
        reading_windows=sum(len(r) for r in read),
        negative_max=max(verifier.probability(w) for w in negatives),
        positive_min=min(verifier.probability(w) for w in pos))


#: Regularisation strengths tried by :func:`_choose`.
_L2_GRID = (3.0, 10.0, 30.0, 100.0)


def _choose(per_take: list[np.ndarray], negatives: np.ndarray,
            readings: Sequence[np.ndarray] = ()) -> tuple[float, float]:
    """The regularisation and threshold, by cross-validation on the enrolment's own
    recordings: takes, synthetic negatives and the readings (in blocks of
    :data:`_READING_BLOCK` windows: neighbouring windows overlap) are dealt into
    folds; each fold's verifier, trained on the others, scores its held-out takes
    (their best window) and negatives.

    With readings, the strength under which most held-out takes score above every
    held-out negative wins, and the threshold is halfway (in log-odds) between that
    strongest negative and the weakest take above it, neither of which the verifier
    had heard: the readings are the household talking, what it must refuse. Without
    readings, the widest gap wins, and the threshold is the weakest held-out take's
    probability: synthetic speech in other voices is far easier to refuse than the
    household talking, so its negatives cannot place it.
    """
    folds = min(_FOLDS, len(per_take))
    if folds < 2:
        return 1.0, 0.5
    neg_fold = np.arange(len(negatives)) % folds
    read_folds = [np.arange(len(r)) // _READING_BLOCK % folds for r in readings]
    all_neg = np.concatenate([negatives, *readings])
    all_fold = np.concatenate([neg_fold, *read_folds])
    best: tuple[float, float, float, float] | None = None  # score, l2, take, negative
    for l2 in _L2_GRID:
        take_logits, negative_logits = [], []
        for f in range(folds):
            train_pos = np.concatenate([p for i, p in enumerate(per_take) if i % folds != f])
            v = train_verifier("", train_pos, all_neg[all_fold != f], l2=l2)
            take_logits += [max(_logit(v.probability(w)) for w in p)
                            for i, p in enumerate(per_take) if i % folds == f]
            negative_logits += [_logit(v.probability(w)) for w in all_neg[all_fold == f]]
        high = max(negative_logits, default=-10.0)
        if readings:
            # The share of held-out takes above every held-out negative (detection at
            # no false accept); a tie goes to the stronger regularisation (later).
            above = [t for t in take_logits if t > high]
            score = len(above) / len(take_logits)
            low = min(above, default=min(take_logits))
            if best is None or score >= best[0]:
                best = (score, l2, low, high)
        else:
            low = min(take_logits)
            if best is None or low - high > best[0]:
                best = (low - high, l2, low, high)
    assert best is not None
    _, l2, low, high = best
    logit = (low + high) / 2 if readings else low
    threshold = float(1.0 / (1.0 + np.exp(-logit)))
    return l2, min(0.999, max(0.5, threshold))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def _versions(take: np.ndarray) -> list[np.ndarray]:
    """The take as said, and sped up / slowed down by :data:`_SPEEDS` (resampled: the
    pitch moves with the speed, as in Kaldi's speed perturbation)."""
    import soxr

    out = [take]
    for speed in _SPEEDS:
        y = soxr.resample(take.astype(np.float32), VAD_SAMPLE_RATE,
                          int(round(VAD_SAMPLE_RATE / speed)))
        out.append(np.clip(y, -32768, 32767).astype(np.int16))
    return out


def _with_context(take: np.ndarray, engine: OpenWakeWordEngine,
                  room_tone: np.ndarray | None) -> np.ndarray:
    """``take`` after the model's warm-up length of the room's tone (looped; silence
    without one): a take that starts with the word, heard by a fresh model, would
    otherwise be over before the model scores anything."""
    take = np.asarray(take, np.int16)
    if room_tone is not None and len(room_tone):
        lead = np.resize(np.asarray(room_tone, np.int16), engine.warmup_samples)
    else:
        lead = np.zeros(engine.warmup_samples, np.int16)
    return np.concatenate([lead, take])


def _speech(minutes: float, model: str) -> np.ndarray:
    """``minutes`` of eSpeak speech (16 kHz int16): random dictionary words in
    several voices, some sounding like parts of ``model``'s words, short gaps."""
    import soxr

    from ..speech.synth import Synthesizer

    common, near = _vocabulary(model)
    synth = Synthesizer()
    rng = np.random.default_rng(7)
    pieces: list[np.ndarray] = []
    total, want, k = 0, int(minutes * 60 * VAD_SAMPLE_RATE), 0
    while total < want:
        words = [str(rng.choice(near if near and rng.random() < _ADVERSARIAL_SHARE
                                else common)) for _ in range(int(rng.integers(3, 10)))]
        voice = _NEGATIVE_VOICES[k % len(_NEGATIVE_VOICES)]
        k += 1
        pcm = np.frombuffer(synth.synthesize_all(" ".join(words), voice=voice), np.int16)
        speech = soxr.resample(pcm, synth.sample_rate, VAD_SAMPLE_RATE)
        gap = np.zeros(int(rng.uniform(0.15, 1.2) * VAD_SAMPLE_RATE), np.int16)
        pieces += [gap, np.asarray(speech, np.int16)]
        total += len(gap) + len(speech)
    return np.concatenate(pieces)[:want]


def _vocabulary(model: str) -> tuple[list[str], list[str]]:
    """The CMU dictionary's plain words, and those sharing a pair of phones with the
    words of ``model``'s name ("hey_jarvis" → hey, jarvis) other than those words."""
    from pocketsphinx import get_model_path

    phones: dict[str, list[str]] = {}
    with open(Path(get_model_path()) / "en-us" / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            word, *rest = line.split()
            if word.isalpha() and len(word) > 1:
                phones[word] = [p.rstrip("012") for p in rest]
    target = [w for w in Path(model).stem.lower().replace("-", "_").split("_") if w]
    pairs = {tuple(phones[w][i:i + 2]) for w in target if w in phones
             for i in range(len(phones[w]) - 1)}
    near = [w for w, ph in phones.items() if w not in target
            and any(tuple(ph[i:i + 2]) in pairs for i in range(len(ph) - 1))]
    return sorted(w for w in phones if w not in target), sorted(near)
