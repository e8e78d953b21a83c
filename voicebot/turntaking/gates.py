"""The gates an utterance passes before it becomes a turn: the wake word, the
follow-up window after a reply, the push-to-talk button. Pure.

Part of the turn-taking core (:mod:`.core`), which owns one :class:`Gates` per
conversation and asks it about every utterance that ended. No I/O, no clock:
times are the monotonic seconds the core is fed, positions are capture samples.
"""

from __future__ import annotations

from collections.abc import Callable

from ..capture.events import UtteranceEnded
from ..capture.segmenter import SAMPLE_RATE as CAPTURE_RATE
from .policy import Policy

__all__ = ["Gates"]


class Gates:
    """Which utterances count, and what of them: one thread (the core's)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        # The wake word's end (capture position) until an utterance takes it, and the
        # time by which that utterance must have begun.
        self._wake_position: int | None = None
        self._wake_until = 0.0
        self._follow_up_until: float | None = None
        self._ptt_down_at: float | None = None
        self._ptt_last: tuple[float, float] | None = None

    def closed(self, now: float) -> bool:
        """Nothing said at ``now`` would count (the idle state is "sleeping")."""
        p = self._policy
        return ((p.wake_word and not self._window_open(now))
                or (p.push_to_talk and self._ptt_down_at is None))

    def _window_open(self, at: float) -> bool:
        """A wake word's wait or the follow-up window is open at ``at``. Windows are
        [opened, until): closed at their deadline, where the Tick asked for it comes."""
        woken = self._wake_position is not None and at < self._wake_until
        follow_up = self._follow_up_until
        return woken or (follow_up is not None and at < follow_up)

    def takes(self, start_at: float, now: float) -> bool:
        """An utterance that began at ``start_at`` (its pre-roll included) and is still
        spoken at ``now`` would count if it ended now: begun inside a window, or with
        the button held while it was spoken. (The idle state stays "listening" while
        it is spoken, though its window has closed since.)"""
        p = self._policy
        return ((not p.wake_word or self._window_open(start_at))
                and (not p.push_to_talk or self._talk_held(start_at, now)))

    def next_change(self, now: float) -> float | None:
        """The next time after ``now`` at which :meth:`closed` may change by itself
        (a window closes), or None."""
        times = [t for t in (self._follow_up_until,
                             self._wake_until if self._wake_position is not None else None)
                 if t is not None and t > now]
        return min(times) if times else None

    def wake_word(self, position: int, now: float) -> None:
        """The wake word was heard at ``now``; the question starts at capture sample
        ``position``, in an utterance that begins within ``command_wait_ms``."""
        self._wake_position = position
        self._wake_until = now + self._policy.command_wait_ms / 1000

    def wake_word_end(self, position: int) -> None:
        """The wake word's end placed again, later than at its detection."""
        if self._wake_position is not None:  # else its question was cut already
            self._wake_position = position

    def push_to_talk(self, pressed: bool, at: float) -> None:
        if pressed:
            self._ptt_down_at = at
        elif self._ptt_down_at is not None:
            self._ptt_last = (self._ptt_down_at, at)
            self._ptt_down_at = None

    @property
    def follow_up_until(self) -> float | None:
        """When the window in which no wake word is needed closes (None: none open)."""
        return self._follow_up_until

    def reply_over(self, now: float) -> float | None:
        """A reply ended (not cancelled): the follow-up window opens; returns when it
        closes (None: no window, no wake word needed)."""
        if not self._policy.wake_word:
            return None
        self._follow_up_until = now + self._policy.follow_up_ms / 1000
        return self._follow_up_until

    def admit(self, ev: UtteranceEnded, time_of: Callable[[int], float],
              now: float) -> tuple[bytes, int] | str:
        """What of the utterance becomes the turn, ``(pcm, start_sample)``, or why
        none of it does (``"no_wake_word"``, ``"wake_word_only"``: the question is
        the next utterance, within :attr:`follow_up_until`; ``"push_to_talk"``).
        ``time_of`` maps a capture sample to monotonic time; ``now``: the time."""
        p = self._policy
        pcm, start = ev.pcm, ev.start_sample
        if p.wake_word:
            wake = self._wake_position
            if wake is not None and time_of(ev.start_sample) >= self._wake_until:
                wake = self._wake_position = None  # nothing was said after it in time
            if wake is not None and wake < ev.end_sample:
                self._wake_position = None
                tail = p.vad_tail_ms * CAPTURE_RATE // 1000 if ev.reason == "silence" else 0
                if (ev.end_sample - tail - wake) * 1000 < p.command_min_ms * CAPTURE_RATE:
                    # The wake word said alone, the user waiting for the earcon: sent,
                    # the turn would be its last syllable and the VAD's tail (the
                    # server: "I didn't catch that"), and the question, said while
                    # that was answered, was lost.
                    until = now + p.command_wait_ms / 1000
                    self._follow_up_until = max(until, self._follow_up_until or until)
                    return "wake_word_only"
                # The command is what follows the wake word ("hey jarvis, what time is it").
                cut = max(0, wake - start)
                pcm, start = pcm[cut * 2:], start + cut
            elif self._follow_up_until is None or time_of(ev.start_sample) >= self._follow_up_until:
                self._follow_up_until = None  # (begun after it closed)
                return "no_wake_word"
            self._follow_up_until = None
        if p.push_to_talk and not self._talk_held(time_of(ev.start_sample), time_of(ev.end_sample)):
            return "push_to_talk"
        return pcm, start

    def _talk_held(self, start_at: float, end_at: float) -> bool:
        if self._ptt_down_at is not None and self._ptt_down_at <= end_at:
            return True
        last = self._ptt_last
        return last is not None and last[0] <= end_at and last[1] >= start_at
