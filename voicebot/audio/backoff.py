"""Retry delays for things that come back by themselves (audio devices, a server).

Pure: no clock, no sleeping. The caller asks :meth:`Backoff.next_delay_s` after each
failed attempt, waits that long itself, and calls :meth:`Backoff.reset` once an
attempt succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Exponential back-off: ``initial_s``, then ×``factor`` per failure, capped at ``max_s``.

    The defaults (0.5 s doubling to 10 s) retry a device that comes straight back
    (PipeWire restarting: ~1 s) within a second, and one that stays away (a USB
    microphone on a shelf) at most every 10 s: an attempt costs a device open, a few
    ms of CPU, so that is ~0.05 % of a core while it is missing.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0
    #: Failed attempts since the last success (or the start).
    failures: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s) or self.factor < 1:
            raise ValueError("back-off needs 0 < initial_s <= max_s and factor >= 1")

    def next_delay_s(self) -> float:
        """An attempt failed: how long to wait before the next one."""
        # Capped before multiplying further: factor ** failures would overflow a float
        # after ~1000 failures (a device missing for hours).
        delay = self.initial_s
        for _ in range(self.failures):
            delay *= self.factor
            if delay >= self.max_s:
                delay = self.max_s
                break
        self.failures += 1
        return min(delay, self.max_s)

    def reset(self) -> None:
        """An attempt succeeded: the next failure starts again from ``initial_s``."""
        self.failures = 0
