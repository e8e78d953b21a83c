"""Is the enrolment's reading passage disjoint from what bench_wakeword tests on?

The test texts: the wake phrases, the questions said after the wake word, the
endpointing corpus's requests (tests/corpus.REQUESTS, a third of the speech hour's
sentences) and the speech hour's random sentences of bench_wakeword.WORDS,
regenerated from their seeds (a superset: more sentences per minute than a minute
holds). Words are compared lower-case, punctuation stripped.
"""

from __future__ import annotations

import re

import numpy as np

import bench_wakeword as B
from corpus import REQUESTS

__all__ = ["test_texts", "overlap", "words_of"]


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("'s", "s"))


def test_texts(minutes: int = 60, per_minute: int = 80, seed_offset: int = 0) -> list[str]:
    """Every text bench_wakeword's corpus says (the speech hour's as a superset; of the
    corpus of ``--seed-offset``)."""
    texts = list(B.PHRASES.values()) + list(B.QUESTIONS) + [" ".join(r) for r in REQUESTS]
    for k in range(minutes):
        # as bench_wakeword._speech_minute draws
        rng = np.random.default_rng(B.seeded(10_000 + k, seed_offset))
        for _ in range(per_minute):
            rng.uniform(0.2, 1.5)  # the gap before the sentence
            texts.append(B._sentence(rng))
    return texts


def _grams(texts: list[str], n: int) -> set[tuple[str, ...]]:
    out = set()
    for t in texts:
        w = words_of(t)
        out |= {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
    return out


def overlap(enrolment: list[str], seed_offset: int = 0) -> dict[int, set[tuple[str, ...]]]:
    """Word sequences of 1, 2 and 3 words that the enrolment text shares with the
    test texts (of the corpus of ``seed_offset``)."""
    tests = test_texts(seed_offset=seed_offset)
    return {n: _grams(enrolment, n) & _grams(tests, n) for n in (1, 2, 3)}
