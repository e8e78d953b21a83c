"""How much audio the jitter buffer waits for before it plays: fixed, or adaptive.

Pure: no I/O, no clock. The producer passes arrival times (monotonic seconds) in.

The buffer starts playing a reply, and resumes after an underrun, once it holds
its *target* level. A :class:`JitterPolicy` says how that target is chosen:

- **Fixed** (:meth:`JitterPolicy.fixed`): ``prebuffer_ms`` at the start of a reply,
  ``rebuffer_ms`` after an underrun. Kept for comparison and for users who want it.
- **Adaptive** (the default). Each push's *lateness* is measured the way WebRTC's
  NetEq measures relative arrival delay: ``L = now - first_arrival - audio_before``
  (how late the chunk's first sample came against a stream that started with the
  first chunk and went on at real time), relative to the smallest lateness seen so
  far in the reply (``R = L - min L``; a stream running ahead of real time keeps
  lowering the minimum, so only real delays count). The target is the largest ``R``
  seen (the worst arrival delay the buffer must ride out) plus ``margin_ms``:

  * *start early*: before a reply has shown any delay the target is small
    (``initial_ms``), and a stream ahead of real time fills it at once;
  * *grow after an underrun*: the stall that caused it arrives as a large ``R``,
    so the target for resuming (and for the rest of the reply) covers a stall as
    long again — the burst that ends a network stall usually refills it at once;
  * *shrink slowly*: the learned delay decays with a half-life of
    ``half_life_s`` of arrival time, and carries over to the next reply (the
    network is the same one), so a jittery link starts the next reply safer;
  * a stream slower than real time keeps growing ``R``, so each underrun raises
    the target by what the stall showed: the number of underruns stays small.

  ``prebuffer_ms`` bounds the *start* target (a reply never waits for more than that
  before it plays, whatever earlier replies taught); ``max_ms`` bounds the target
  after an underrun in the reply.

Playback never drops, skips or reorders a sample: the target only decides when
playing starts or resumes. (NetEq also shrinks its buffer by time-stretching; we
keep every sample unchanged, so a too-large buffer only shrinks with the next reply.)

Thread: everything here runs on the producer thread (the buffer's :meth:`push`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["JitterPolicy", "TargetEstimator", "Targets"]


@dataclass(frozen=True)
class JitterPolicy:
    """When to start (and resume) playing. Frozen data; see the module docstring.

    ``prebuffer_ms``: fixed — the start target; adaptive — the most the start target
    may be. ``rebuffer_ms`` (fixed only): the target after an underrun (``None``: half
    of ``prebuffer_ms``). The other fields only concern the adaptive policy.
    """

    adaptive: bool = True
    prebuffer_ms: float = 120.0
    rebuffer_ms: float | None = None
    initial_ms: float = 20.0
    margin_ms: float = 0.0
    max_ms: float = 2000.0
    half_life_s: float = 10.0
    resume_extra: float = 0.0

    def __post_init__(self) -> None:
        values = (self.prebuffer_ms, self.initial_ms, self.margin_ms, self.max_ms)
        if min(values) < 0 or (self.rebuffer_ms is not None and self.rebuffer_ms < 0):
            raise ValueError("jitter policy durations must not be negative")
        if self.half_life_s <= 0:
            raise ValueError("half_life_s must be positive")

    @classmethod
    def fixed(cls, prebuffer_ms: float = 120.0, rebuffer_ms: float | None = None) -> JitterPolicy:
        """Always wait for ``prebuffer_ms`` at the start, ``rebuffer_ms`` after an underrun."""
        return cls(adaptive=False, prebuffer_ms=prebuffer_ms, rebuffer_ms=rebuffer_ms)

    @classmethod
    def named(cls, kind: str, prebuffer_ms: float = 120.0) -> JitterPolicy:
        """The policy a config names: ``"adaptive"`` (``prebuffer_ms`` bounds its start
        target) or ``"fixed"``. Raises :class:`ValueError` for another name."""
        if kind == "adaptive":
            return cls(prebuffer_ms=prebuffer_ms)
        if kind == "fixed":
            return cls.fixed(prebuffer_ms)
        raise ValueError(f"jitter policy must be 'adaptive' or 'fixed', not {kind!r}")


class Targets(NamedTuple):
    """What the consumer waits for, in frames (published by the producer in one store).

    Playing (re)starts once the buffer holds ``*_level`` frames, or once the output has
    waited ``*_offset`` frames since the reply's audio came. With ``headroom`` both are
    on top of one pull and the fade reserve (adaptive: times to ride out); without it
    ``*_level`` is the whole level to hold (fixed prebuffer) and offsets never apply.
    """

    start_level: int
    start_offset: int
    resume_level: int
    resume_offset: int
    headroom: bool


_NEVER = 1 << 62
#: Arrival time a reply needs before its rate counts (the first deltas are bursty).
_MIN_RATE_WINDOW_S = 0.5
_HORIZON_S = 2.0


class TargetEstimator:
    """Turns a reply's arrival times into the buffer's :class:`Targets`.

    Producer thread only. :meth:`begin_reply` before each reply; :meth:`on_push` for
    every push (its arrival time and how much audio came before it); :meth:`targets`
    for what to publish to the consumer.
    """

    def __init__(self, policy: JitterPolicy, sample_rate: int) -> None:
        self.policy = policy
        self._rate = sample_rate
        self._decay_per_s = math.log(2.0) / policy.half_life_s  # ln 2 / half-life
        # Learned over replies (the link's worst delay), decaying with arrival time.
        self._delay_s = policy.initial_ms / 1000.0
        self._last_arrival: float | None = None
        # This reply.
        self._first_arrival: float | None = None
        self._min_lateness_s = 0.0
        self._max_lateness_s = 0.0
        self._max_rise_s = 0.0
        self._last_chunk_s = 0.0
        self._deficit_s = 0.0

    def begin_reply(self) -> None:
        self._first_arrival = None
        self._min_lateness_s = 0.0
        self._max_lateness_s = 0.0
        self._max_rise_s = 0.0
        self._last_chunk_s = 0.0
        self._deficit_s = 0.0

    def on_push(self, now: float, frames_before: int, frames: int) -> None:
        """``frames`` arrived at ``now`` (monotonic s) after ``frames_before`` frames."""
        if not self.policy.adaptive:
            return
        self._last_chunk_s = frames / self._rate
        if self._last_arrival is not None and now > self._last_arrival:
            self._delay_s *= math.exp(-self._decay_per_s * (now - self._last_arrival))
        self._last_arrival = now
        if self._first_arrival is None:
            self._first_arrival = now
            return
        lateness = now - self._first_arrival - frames_before / self._rate
        self._min_lateness_s = min(self._min_lateness_s, lateness)
        self._max_lateness_s = max(self._max_lateness_s, lateness)
        rise = lateness - self._min_lateness_s
        self._max_rise_s = max(self._max_rise_s, rise)
        self._delay_s = max(self._delay_s, rise)
        # A stream slower than real time falls behind by (1/rate - 1) per second of
        # audio. Once it has run a while, a chunk that is late (lateness > 0: rate
        # below 1 so far) says so: expect as much audio again as came before it (at
        # least _HORIZON_S), so each underrun at least doubles how long playing lasts.
        elapsed = now - self._first_arrival
        before_s = frames_before / self._rate
        if elapsed >= _MIN_RATE_WINDOW_S and lateness > 0:
            self._deficit_s = lateness * max(1.0, _HORIZON_S / before_s)
        else:
            self._deficit_s = 0.0

    def targets(self) -> Targets:
        p = self.policy
        rate = self._rate
        if not p.adaptive:
            start = _frames(p.prebuffer_ms / 1000.0, rate)
            resume = (start // 2 if p.rebuffer_ms is None
                      else _frames(p.rebuffer_ms / 1000.0, rate))
            return Targets(start, _NEVER, resume, _NEVER, headroom=False)
        margin = p.margin_ms / 1000.0
        # The prior (earlier replies' delays, decaying) only counts until this reply
        # shows worse: then this reply's own figures rule.
        prior = self._delay_s if self._max_rise_s < self._delay_s else 0.0
        level = self._last_chunk_s + max(self._max_rise_s, prior) + margin + self._deficit_s
        offset = max(self._max_lateness_s, prior) + margin + self._deficit_s
        start_cap = p.prebuffer_ms / 1000.0
        max_s = p.max_ms / 1000.0
        extra = 1.0 + p.resume_extra
        return Targets(_frames(min(level, start_cap), rate), _frames(min(offset, start_cap), rate),
                       _frames(min(level * extra, max_s), rate), _frames(min(offset * extra, max_s), rate),
                       headroom=True)


def _frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))
