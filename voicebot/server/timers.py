"""Timers for the local assistant: bounded per-server state, time passed in. Pure.

The server cannot ring a client when a timer ends (the API has no push), so timers are
reported when asked ("how long is left on my timer"), honestly including ones that
already ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Timer", "TimerBook", "parse_duration_s", "say_duration"]

_UNIT_S = {"second": 1, "seconds": 1, "sec": 1, "secs": 1, "minute": 60, "minutes": 60,
           "min": 60, "mins": 60, "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600}


@dataclass(frozen=True)
class Timer:
    number: int
    duration_s: int
    ends_at_s: float


def parse_duration_s(tokens: list[str | Fraction]) -> int | None:
    """Sum of ``<number|a|an|half an> <unit>`` pairs in ``tokens`` (see numbers.tokenize).

    ``five minutes and thirty seconds`` → 330; ``half an hour`` → 1800; None when no
    duration is said.
    """
    total = Fraction(0)
    found = False
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str) or tok not in _UNIT_S or i == 0:
            continue
        prev = tokens[i - 1]
        if isinstance(prev, Fraction):
            amount = prev
        elif prev == "half" and i >= 4 and tokens[i - 3:i - 1] == ["and", "a"] \
                and isinstance(tokens[i - 4], Fraction):
            amount = tokens[i - 4] + Fraction(1, 2)  # type: ignore[operator]
        elif prev in ("a", "an", "one"):
            amount = Fraction(1, 2) if i >= 2 and tokens[i - 2] == "half" else Fraction(1)
        else:
            continue
        total += amount * _UNIT_S[tok]
        # "one and a half minutes", "an hour and a half"
        after = tokens[i + 1:i + 4]
        if after == ["and", "a", "half"]:
            total += Fraction(_UNIT_S[tok], 2)
        found = True
    return int(total) if found and total > 0 else None


def say_duration(seconds: float) -> str:
    """``1 hour 5 minutes``, ``30 seconds``, ``2 minutes 1 second``."""
    s = max(0, int(round(seconds)))
    parts = []
    for name, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        n, s = divmod(s, size)
        if n:
            parts.append(f"{n} {name}{'s' if n != 1 else ''}")
    return " ".join(parts) or "0 seconds"


class TimerBook:
    """The timers of one server. Not thread-safe: the event-loop thread owns it."""

    #: Bounded so a client looping "set a timer" cannot grow memory.
    MAX_TIMERS = 16
    #: Timers that ended are still reported for this long, then forgotten.
    KEEP_ENDED_S = 3600
    #: Longest timer accepted.
    MAX_DURATION_S = 24 * 3600

    def __init__(self) -> None:
        self._timers: list[Timer] = []
        self._next = 1

    def set(self, duration_s: int, now_s: float) -> Timer:
        """Start a timer; the oldest is dropped when there are already MAX_TIMERS."""
        self._prune(now_s)
        if not self._timers:
            self._next = 1
        timer = Timer(self._next, duration_s, now_s + duration_s)
        self._next += 1
        self._timers.append(timer)
        del self._timers[:-self.MAX_TIMERS]
        return timer

    def active(self, now_s: float) -> list[Timer]:
        """Every timer still known, running or recently ended, oldest first."""
        self._prune(now_s)
        return list(self._timers)

    def cancel_all(self, now_s: float) -> int:
        """Forget every timer; returns how many were running."""
        running = sum(1 for t in self.active(now_s) if t.ends_at_s > now_s)
        self._timers.clear()
        return running

    def _prune(self, now_s: float) -> None:
        self._timers = [t for t in self._timers if now_s - t.ends_at_s < self.KEEP_ENDED_S]
