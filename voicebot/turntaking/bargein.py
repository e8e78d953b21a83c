"""Speech over a reply: when it interrupts the turn, when it is a backchannel. Pure.

Part of the turn-taking core (:mod:`.core`), which owns one :class:`BargeIn` per
conversation, tells it when the user's speech starts and ends, and asks it about
every capture report inside speech and every utterance that ended. With the
policy's ``barge_in``, speech over an audible reply that lasts ``barge_in_ms``
(counted from the later of its detection and the reply's first sound +
``barge_in_grace_ms``) cancels the turn; an utterance over it that ends sooner is a
backchannel when shorter than ``backchannel_ms``. No I/O, no clock: times are the
monotonic seconds the core is fed.
"""

from __future__ import annotations

from .inputs import Detected
from .policy import Policy
from .turn import Turn

__all__ = ["BargeIn"]


class BargeIn:
    """The user's speech against the reply: one thread (the core's)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        # When the user's current speech began to count (None: silent).
        self._speech_since: float | None = None

    def speech_started(self, d: Detected) -> None:
        """The capture report ``d`` carried the start of speech."""
        # Speech counts from the start trigger: the end of the last voiced frame
        # of the block that fired it, not the block's end (up to a block later).
        # With barge_in_ms = 0 the start itself interrupts, not the next report.
        self._speech_since = d.at if d.voiced_end is None else d.time_of(d.voiced_end)

    def speech_over(self) -> None:
        """The utterance ended, or was discarded."""
        self._speech_since = None

    def interrupts(self, turn: Turn, voiced_until: float) -> bool:
        """Whether the user has now spoken ``barge_in_ms`` over ``turn``'s audible
        reply; ``voiced_until``: when their last voiced frame ended."""
        p = self._policy
        if not p.barge_in or turn.cancelling or self._speech_since is None:
            return False
        sound = turn.reply.first_sound_at
        if sound is None:
            return False  # nothing audible yet: speech now is the user going on, not a barge-in
        counted_from = max(self._speech_since, sound + p.barge_in_grace_ms / 1000)
        return voiced_until - counted_from >= p.barge_in_ms / 1000

    def backchannel(self, turn: Turn | None, start_s: float, end_s: float) -> bool:
        """Whether an utterance from ``start_s`` to ``end_s`` (capture time) said over
        ``turn``'s audible reply was too short to be anything but a backchannel."""
        p = self._policy
        return (p.barge_in and turn is not None and not turn.cancelling
                and turn.reply.first_sound_at is not None
                and (end_s - start_s) * 1000 < p.backchannel_ms)
