"""Latency per turn and over a conversation, for the turn-taking core. Pure.

Each stage is measured from the end of the user's speech (a typed turn has none:
from when it was submitted) to a moment the driver reported in the turn's
:class:`~.inputs.TurnReport`; :class:`LatencyLog` builds the turn's
:class:`~.events.TurnDone` record and keeps every value for the conversation's
:class:`~.events.Summary` (nearest-rank p50 and p95).
"""

from __future__ import annotations

from .events import LATENCY_STAGES, Summary, TurnDone
from .inputs import TurnReport

__all__ = ["LatencyLog", "percentile"]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000, 1)


class LatencyLog:
    """The finished turns' latencies, stage by stage. One conversation, one thread."""

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {stage: [] for stage in LATENCY_STAGES}
        self.turns = 0

    def turn_done(self, number: int, r: TurnReport, *, speech_end_at: float | None,
                  submitted_at: float, first_sound_at: float | None,
                  text: str) -> TurnDone:
        """The record of a finished turn (and its latencies, kept for the summary).

        ``speech_end_at``: when the user stopped speaking (None: a typed turn);
        ``submitted_at``: when the core learnt of the turn; ``first_sound_at``: the
        reply's first sound as the playback position placed it, when the report has
        none; ``text``: the reply's text, when the report has none."""
        self.turns += 1
        origin = speech_end_at if speech_end_at is not None else submitted_at
        first_sound = r.first_sound if r.first_sound is not None else first_sound_at
        latency = {
            "endpoint": _ms(speech_end_at, submitted_at),
            "request_sent": _ms(origin, r.request_sent),
            "first_byte": _ms(origin, r.first_byte),
            "first_audio": _ms(origin, r.first_audio),
            "first_sound": _ms(origin, first_sound),
        }
        for stage, value in latency.items():
            if value is not None:
                self._values[stage].append(value)
        return TurnDone(turn=number, text=r.text or text, audio_bytes=r.audio_bytes,
                        audio_id=r.audio_id, finish_reason=r.finish_reason,
                        usage=dict(r.usage), requests=r.requests,
                        timings_ms={"first_byte": _ms(r.request_sent, r.first_byte),
                                    "first_audio": _ms(r.request_sent, r.first_audio),
                                    "first_sound": _ms(r.request_sent, first_sound),
                                    "done": _ms(r.request_sent, r.done)},
                        latency_ms=latency, underruns=r.underruns)

    def summary(self, preemptive: dict[str, int]) -> Summary:
        """p50/p95 of each stage over the finished turns (ms), with ``preemptive``'s
        counts (``sent``, ``discarded``)."""
        stats: dict[str, dict[str, float | int | None]] = {}
        for stage, values in self._values.items():
            p50, p95 = percentile(values, 50), percentile(values, 95)
            stats[stage] = {"p50": None if p50 is None else round(p50, 1),
                            "p95": None if p95 is None else round(p95, 1), "n": len(values)}
        return Summary(turns=self.turns, latency_ms=stats, preemptive=dict(preemptive))
