"""How much audio the jitter buffer waits for before it plays: fixed, or adaptive.

Pure: no I/O, no clock. The producer passes arrival times (monotonic seconds) in.

The buffer starts playing a reply, and resumes after an underrun, once it holds its
*level* target, or once the output has waited its *offset* target since the reply's
audio came (the consumer counts the silence it played: its own clock). A
:class:`JitterPolicy` says how the targets are chosen:

- **Fixed** (:meth:`JitterPolicy.fixed`): hold ``prebuffer_ms`` at the start of a
  reply, ``rebuffer_ms`` after an underrun. Kept for comparison and for users who
  want it.
- **Adaptive** (the default), after WebRTC NetEq's relative arrival delay. Each
  arrival's *lateness* is ``now - first_arrival - audio_before``: how late its first
  sample came against a stream that started with the first arrival and went on at
  real time (negative: ahead). Two figures follow, per reply:

  * the longest *wait*: an arrival's lateness minus the least lateness any earlier
    arrival's *last* sample had (the most lead the stream ever gave). A buffer that
    started holding that much rides out such an arrival. The level target is the
    longest wait seen (until a second arrival, the first one's length);
  * the largest lateness: playing that much behind the first arrival, no sample seen
    so far would have come too late. That is the offset target.

  Both get a margin: what earlier replies taught (the longest wait seen, halving
  every ``half_life_s`` of arrival time; ``initial_ms`` before any reply), until this
  reply has shown a wait as long; then this reply's own figures rule. So:

  * *start early when the stream runs ahead*: a fast stream fills the level target
    at once (its waits are short), and the offset target is met within a few blocks;
  * *grow after an underrun by what the stall showed*: the stall arrives as a long
    wait and a large lateness, so playback resumes behind by as much as the stall
    was, ready for the next one like it (the burst that ends a network stall usually
    refills the buffer at once, so that costs little more than the stall itself);
  * *shrink slowly*: the learned margin decays, and carries over to the next reply;
  * a stream *slower than real time* (every arrival of the last ``_SLOW_WINDOW_S``
    ended behind real time) is expected to go on as long again, falling behind as
    much again (over at least ``_HORIZON_S``): that deficit is added, so each
    underrun at least doubles how long playback then lasts.

  ``prebuffer_ms`` bounds the *start* targets (a reply never waits longer than that
  for its start, whatever earlier replies taught); ``max_ms`` bounds the targets
  after an underrun.

Playback never drops, skips or reorders a sample: the targets only decide when
playing starts or resumes. (NetEq also shrinks its buffer by time-stretching; we keep
every sample as it came, so a buffer that grew only shrinks with the next reply.)

Thread: :class:`TargetEstimator` runs on the producer thread (the buffer's ``push``);
the consumer only reads the :class:`Targets` it publishes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["JitterPolicy", "TargetEstimator", "Targets"]


@dataclass(frozen=True)
class JitterPolicy:
    """When to start (and resume) playing. Frozen data; see the module docstring.

    ``prebuffer_ms``: fixed — the start level; adaptive — the most the start targets
    may be (the settings key ``prebuffer_ms`` means this). ``rebuffer_ms`` (fixed
    only): the level after an underrun (``None``: half of ``prebuffer_ms``). The
    others are the adaptive policy's: ``initial_ms`` the margin before anything was
    learned (20 ms: on the benchmark's jittery traces it met the goal most often),
    ``margin_ms`` a margin always added, ``max_ms`` the most the targets may grow to
    after an underrun, ``half_life_s`` how fast a learned margin shrinks.
    """

    adaptive: bool = True
    prebuffer_ms: float = 120.0
    rebuffer_ms: float | None = None
    initial_ms: float = 20.0
    margin_ms: float = 0.0
    max_ms: float = 2000.0
    half_life_s: float = 10.0

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
#: How long a stream must have been behind real time to count as slower than it.
_SLOW_WINDOW_S = 0.5
#: The least audio a reply is expected to go on for, when projecting a deficit.
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
        # Learned over replies (the link's worst wait), decaying with arrival time.
        self._learned_s = policy.initial_ms / 1000.0
        self._last_arrival: float | None = None
        self.begin_reply()

    def begin_reply(self) -> None:
        # Pushes with the same arrival time are one arrival (a "group"), so how a
        # delta is cut into pushes changes nothing.
        self._first_arrival: float | None = None
        self._groups = 0
        self._group_frames = 0
        self._max_late_s = 0.0       # max over arrivals of the first sample's lateness
        self._min_end_late_s = 0.0   # min over arrivals of the last sample's lateness
        self._max_wait_s = 0.0       # max over arrivals of (lateness - earlier min end)
        self._deficit_s = 0.0
        self._recent_late: deque[tuple[float, float]] = deque()  # (arrival, lateness)

    def on_push(self, now: float, frames_before: int, frames: int) -> None:
        """``frames`` arrived at ``now`` (monotonic s) after ``frames_before`` frames."""
        if not self.policy.adaptive:
            return
        rate = self._rate
        if self._first_arrival is not None and now == self._last_arrival:
            self._group_frames += frames  # the same arrival, cut in more pushes
            end_late = now - self._first_arrival - (frames_before + frames) / rate
            self._min_end_late_s = min(self._min_end_late_s, end_late)
            return
        if self._last_arrival is not None and now > self._last_arrival:
            self._learned_s *= math.exp(-self._decay_per_s * (now - self._last_arrival))
        self._last_arrival = now
        self._groups += 1
        self._group_frames = frames
        if self._first_arrival is None:
            self._first_arrival = now
            self._min_end_late_s = -frames / rate
            return
        late = now - self._first_arrival - frames_before / rate
        # How long playback that had kept the most lead so far would have waited for
        # this arrival's first sample: what the buffer must hold to ride it out.
        wait = late - self._min_end_late_s
        self._max_late_s = max(self._max_late_s, late)
        self._max_wait_s = max(self._max_wait_s, wait)
        self._learned_s = max(self._learned_s, wait)
        self._min_end_late_s = min(self._min_end_late_s, late - frames / rate)
        # A stream slower than real time falls behind by (1/rate - 1) per second of
        # audio. It shows as arrivals that were all late, and later and later, over
        # the last _SLOW_WINDOW_S (one stall does not: the arrivals before it were
        # ahead).
        # Then expect as much audio again as came so far (at least _HORIZON_S),
        # falling behind at the same rate: each underrun then at least doubles how
        # long playing lasts.
        recent = self._recent_late
        recent.append((now, late))
        while recent[0][0] < now - _SLOW_WINDOW_S:
            recent.popleft()
        slow = (now - self._first_arrival >= _SLOW_WINDOW_S and late > recent[0][1]
                and min(past for _, past in recent) > 0)
        self._deficit_s = late * max(1.0, _HORIZON_S * rate / frames_before) if slow else 0.0

    def targets(self) -> Targets:
        p = self.policy
        rate = self._rate
        if not p.adaptive:
            start = _frames(p.prebuffer_ms / 1000.0, rate)
            resume = (start // 2 if p.rebuffer_ms is None
                      else _frames(p.rebuffer_ms / 1000.0, rate))
            return Targets(start, _NEVER, resume, _NEVER, headroom=False)
        # Until a second arrival shows how long arrivals take, the first one's length
        # stands for the wait for the next.
        wait = self._max_wait_s if self._groups > 1 else self._group_frames / rate
        # What earlier replies taught (or initial_ms) is a margin until this reply
        # has shown a wait as long: from then on its own figures rule.
        prior = self._learned_s if self._max_wait_s < self._learned_s else 0.0
        extra = prior + p.margin_ms / 1000.0 + self._deficit_s
        level = wait + extra
        offset = self._max_late_s + extra
        start_cap = p.prebuffer_ms / 1000.0
        max_s = p.max_ms / 1000.0
        return Targets(_frames(min(level, start_cap), rate), _frames(min(offset, start_cap), rate),
                       _frames(min(level, max_s), rate), _frames(min(offset, max_s), rate),
                       headroom=True)


def _frames(seconds: float, rate: int) -> int:
    return int(round(seconds * rate))
