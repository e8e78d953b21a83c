"""Simulated echo scenes for echo-cancellation tests and ``scripts/bench_aec.py``.

The far end (what the speaker plays) is eSpeak NG speech; it reaches the
microphone through a synthetic room impulse response: a bulk delay (the rig's
40 ms loopback, or a room's distance plus any latency the timestamps do not see),
a direct path, a few early reflections and an exponentially decaying diffuse tail
(RT60 given), scaled so the echo is ``gain_db`` below the reference in energy.
White noise and a near-end talker (another voice) are added to the microphone.
Every component is returned separately, so ERLE and detection can be measured
against ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from speech import Spoken, compose

RATE = 16_000

REPLY_SENTENCES = [
    "Once upon a time there was a lighthouse keeper who lived on a small rock far out at sea.",
    "Every night he climbed the stairs to light the lamp, and every morning he put it out.",
    "The ships that passed would sound their horns, and he would wave from the gallery.",
    "In winter the storms were so loud that he could not hear himself think.",
    "He kept a cat, a shelf of books, and a kettle that was always warm.",
    "One day a letter came on the supply boat, and everything changed.",
]
NEAR_SENTENCES = ["Stop, stop please.", "Wait, what time is it?", "Hey, can you hold on a second?",
                  "No, tell me about the weather instead."]
NEAR_VOICE = "en-us+f3"


def room_impulse_response(rate: int = RATE, *, delay_ms: float = 40.0, gain_db: float = -10.0,
                          rt60_s: float = 0.25, length_s: float = 0.2, seed: int = 1) -> np.ndarray:
    """A synthetic echo path: ``delay_ms`` of pure delay, then direct path, reflections, tail."""
    rng = np.random.default_rng(seed)
    delay = int(round(delay_ms * rate / 1000))
    n = int(length_s * rate)
    h = np.zeros(delay + n, np.float64)
    h[delay] = 1.0
    for ms, amp in ((2.5, -0.6), (5.8, 0.45), (9.1, -0.3), (14.0, 0.25)):
        h[delay + int(ms * rate / 1000)] += amp
    t = np.arange(n) / rate
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60_s) * 0.05
    tail[: int(0.003 * rate)] = 0
    h[delay:] += tail
    h *= 10 ** (gain_db / 20) / np.sqrt(np.sum(h ** 2))
    return h.astype(np.float32)


def reply(seconds: float, rate: int = RATE, *, peak: float = 0.5) -> np.ndarray:
    """At least ``seconds`` of assistant speech (the reference), peak-normalised."""
    parts: list[str | float] = []
    i = 0
    while True:
        parts += [REPLY_SENTENCES[i % len(REPLY_SENTENCES)], 0.35]
        i += 1
        x, _ = compose(parts, rate)
        if len(x) >= seconds * rate:
            break
    x = x[: int(seconds * rate)]
    return (peak * x / np.abs(x).max()).astype(np.float32)


@dataclass(frozen=True)
class Scene:
    """One simulated capture: ``mic = echo + near + noise``, all at :data:`RATE`."""

    reference: np.ndarray
    mic: np.ndarray
    echo: np.ndarray
    near: np.ndarray
    noise: np.ndarray
    talk: list[Spoken]


def scene(reference: np.ndarray, *, rir: np.ndarray | None = None, noise_dbfs: float = -60.0,
          near: list[str | float] | None = None, near_peak: float = 0.35,
          seed: int = 0) -> Scene:
    """Echo of ``reference`` + white noise + the near-end talker described by ``near``
    (``compose`` parts in the voice :data:`NEAR_VOICE`; None: nobody speaks)."""
    h = room_impulse_response() if rir is None else rir
    n = len(reference)
    echo = np.convolve(reference, h)[:n].astype(np.float32)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 10 ** (noise_dbfs / 20), n).astype(np.float32)
    talk: list[Spoken] = []
    voice = np.zeros(n, np.float32)
    if near:
        v, talk = compose(near, RATE, voice=NEAR_VOICE)
        v = near_peak * v / np.abs(v).max()
        voice[: min(n, len(v))] = v[:n]
    return Scene(reference, echo + voice + noise, echo, voice, noise, talk)


def double_talk_parts(seconds: float, *, first_s: float = 2.0,
                      every_s: float = 5.0) -> list[str | float]:
    """Near-end utterances over a reply: the first at ``first_s``, then one every
    ``every_s`` (approximately; each sentence has its own length)."""
    parts: list[str | float] = [first_s]
    t, i = first_s, 0
    while t + every_s < seconds:
        sentence = NEAR_SENTENCES[i % len(NEAR_SENTENCES)]
        parts += [sentence, every_s - 1.8]
        t += every_s
        i += 1
    return parts


def to_pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2").tobytes()


def from_pcm16(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<i2").astype(np.float32) / 32768.0
