"""A seeded corpus of spoken requests in room noise, with exact ground truth.

For endpointing tests and ``scripts/bench_endpoint.py``. Each :class:`Take` is one
recording: a few requests (eSpeak NG, one voice and speaking rate per take)
separated by 1.5-3 s gaps, over one room noise. A request is one sentence said in
phrases with pauses of 150-400 ms between them ("set a timer, [300 ms] for ten
minutes"): one utterance that must not be split. Non-final phrases end with a comma,
so eSpeak gives them a continuing intonation, as a person pausing mid-sentence.

Built with :func:`speech.compose`, so every request's first and last sample above
-50 dBFS (before the noise is added) and each internal pause are known exactly.
Everything is drawn from the seed: the same arguments give the same samples.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from speech import compose

RATE = 16_000

#: Requests as phrases; a pause is put between consecutive phrases.
REQUESTS: tuple[tuple[str, ...], ...] = (
    ("set a timer,", "for ten minutes"),
    ("turn on the kitchen lights,", "and the hallway"),
    ("what is the weather,", "in paris tomorrow?"),
    ("remind me to call mom,", "at six o'clock,", "on friday"),
    ("play some music,", "something quiet"),
    ("how far is it,", "from here to the station?"),
    ("add milk,", "eggs,", "and bread to the list"),
    ("what time is it,", "in tokyo?"),
    ("turn the volume down,", "a little"),
    ("wake me up at seven,", "tomorrow morning"),
    ("call my sister,", "on her mobile"),
    ("what is fifteen,", "times twelve?"),
    ("open the blinds,", "in the bedroom,", "please"),
    ("tell me a joke,", "a short one"),
    ("yes",),
    ("stop",),
    ("what time is it?",),
    ("thank you very much",),
)

#: eSpeak NG voices: American and British men, two women (variants), a Scottish accent.
VOICES = ("en-us", "en-gb", "en+f3", "en-us+f4", "en-gb-scotland")
#: Speaking rates, words per minute (eSpeak's default is 175).
WPMS = (130, 160, 190, 220)
#: (noise kind, RMS dBFS): eSpeak speech is about -21 dBFS RMS, so -60 is a quiet
#: room and -35 a loud fan (SNR ~14 dB).
NOISES: tuple[tuple[str, float | None], ...] = (
    ("none", None),
    ("white", -55.0), ("white", -40.0),
    ("pink", -50.0), ("pink", -38.0),
    ("brown", -45.0), ("brown", -35.0),
    ("fan", -45.0), ("fan", -35.0),
)
PAUSES_S = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


@dataclass(frozen=True)
class Request:
    """One spoken request: the utterance a detector must find whole."""

    text: str
    start_s: float  # first sample above -50 dBFS of the clean speech
    end_s: float  # one past the last such sample: the end of speech
    pauses_s: tuple[float, ...]  # the silent gaps between its phrases, in order


@dataclass(frozen=True)
class Take:
    """One recording: float32 samples at ``RATE`` and the requests in it."""

    name: str
    voice: str
    wpm: int
    noise: str
    noise_dbfs: float | None
    samples: np.ndarray
    requests: tuple[Request, ...]


@dataclass(frozen=True)
class Condition:
    voice: str
    wpm: int
    noise: str
    noise_dbfs: float | None

    @property
    def name(self) -> str:
        level = "" if self.noise_dbfs is None else f"{self.noise_dbfs:g}"
        return f"{self.voice}@{self.wpm}/{self.noise}{level}"


def conditions() -> list[Condition]:
    """Every voice × rate × noise (180 conditions)."""
    return [Condition(v, w, n, d) for v, w, (n, d) in itertools.product(VOICES, WPMS, NOISES)]


def make_take(cond: Condition, seed: int, n_requests: int = 5) -> Take:
    """``n_requests`` requests drawn from ``seed``, said by ``cond``'s voice in its noise.

    Every pause length in :data:`PAUSES_S` is used in turn (so a take with enough
    pauses has a 300 ms one); the requests with several phrases come first.
    """
    rng = np.random.default_rng(seed)
    multi = [r for r in REQUESTS if len(r) > 1]
    single = [r for r in REQUESTS if len(r) == 1]
    n_single = min(len(single), n_requests // 4)
    chosen = [multi[i] for i in rng.permutation(len(multi))[: n_requests - n_single]]
    chosen += [single[i] for i in rng.permutation(len(single))[:n_single]]
    pauses = itertools.cycle(PAUSES_S[i] for i in rng.permutation(len(PAUSES_S)))
    parts: list[str | float] = [float(rng.uniform(0.5, 1.0))]
    groups: list[tuple[int, int, tuple[float, ...]]] = []  # (first, last) spoken index, pauses
    spoken = 0
    for req in chosen:
        gaps: list[float] = []
        for k, phrase in enumerate(req):
            if k:
                gaps.append(next(pauses))
                parts.append(gaps[-1])
            parts.append(phrase)
        groups.append((spoken, spoken + len(req) - 1, tuple(gaps)))
        spoken += len(req)
        parts.append(float(rng.uniform(1.5, 3.0)))
    x, truth = compose(parts, RATE, voice=cond.voice, wpm=cond.wpm,
                       noise_dbfs=cond.noise_dbfs, noise="white" if cond.noise == "none"
                       else cond.noise, seed=seed)
    requests = tuple(
        Request(" ".join(truth[i].text for i in range(a, b + 1)), truth[a].start_s,
                truth[b].end_s, gaps)
        for a, b, gaps in groups)
    return Take(f"{cond.name}#{seed}", cond.voice, cond.wpm, cond.noise, cond.noise_dbfs,
                x, requests)


def corpus(seed: int = 0, *, every: int = 1, n_requests: int = 5) -> list[Take]:
    """One take per condition (every ``every``-th of :func:`conditions`), seeded from ``seed``."""
    conds = conditions()[::every]
    return [make_take(c, seed * 100_003 + i * every, n_requests) for i, c in enumerate(conds)]


def noise_only(seed: int = 0, seconds: float = 10.0) -> list[tuple[str, np.ndarray]]:
    """Each noise of :data:`NOISES` alone (no speech): nothing may start on these."""
    out = []
    for i, (kind, dbfs) in enumerate(NOISES):
        if dbfs is None:
            continue
        x, _ = compose([seconds], RATE, noise_dbfs=dbfs, noise=kind, seed=seed * 1000 + i)
        out.append((f"{kind}{dbfs:g}", x))
    return out
