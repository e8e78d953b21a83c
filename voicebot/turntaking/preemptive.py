"""Preemptive turns' bookkeeping: the one on its way, the one being discarded. Pure.

Part of the turn-taking core (:mod:`.core`), which decides when to send one (the
user paused and nothing else is going on) and what a confirmed one becomes. This
object only remembers: which preemptive turn is on its way, which discarded one's
task has not ended yet (no turn may start until it has: its number is taken), and
how many were sent and discarded (the summary's counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .inputs import DiscardTurn, StartTurn

__all__ = ["Preemption", "Preemptive"]


@dataclass
class Preemptive:
    """A preemptive turn on its way: turn ``number`` if the utterance that started at
    capture sample ``start_sample`` ends in the pause it was sent in."""
    number: int
    start_sample: int
    parts: tuple[dict[str, Any], ...]
    audio_s: float


class Preemption:
    """One conversation's preemptive turns. One thread (the core's)."""

    def __init__(self) -> None:
        self._on_its_way: Preemptive | None = None
        self._discarding: int | None = None
        self.sent = 0
        self.discarded = 0

    @property
    def busy(self) -> bool:
        """One is on its way, or a discarded one's task has not ended."""
        return self._on_its_way is not None or self._discarding is not None

    @property
    def discarding(self) -> bool:
        """A discarded one's task has not ended: nothing may start yet."""
        return self._discarding is not None

    def send(self, pre: Preemptive) -> StartTurn:
        self._on_its_way = pre
        self.sent += 1
        return StartTurn(pre.number, pre.parts, None, preemptive=True)

    def take(self, start_sample: int) -> Preemptive | None:
        """The one on its way if it was sent for the utterance that began at
        ``start_sample`` (that utterance ended: it becomes the turn), else None."""
        pre = self._on_its_way
        if pre is None or pre.start_sample != start_sample:
            return None
        self._on_its_way = None
        return pre

    def discard(self) -> DiscardTurn | None:
        """Speech went on (or something else came first): drop the one on its way."""
        pre = self._on_its_way
        if pre is None:
            return None
        self._on_its_way = None
        self._discarding = pre.number
        self.discarded += 1
        return DiscardTurn(pre.number)

    def task_ended(self, turn: int) -> bool:
        """Turn ``turn``'s task ended cancelled: True if it was the discarded one."""
        if turn != self._discarding:
            return False
        self._discarding = None
        return True
