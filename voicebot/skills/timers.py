"""Countdown timers: one record, one book, one way to say a duration. Pure.

Both assistants use this core. The client's tools (:mod:`voicebot.session.builtin_tools`)
ring a timer when it runs out (an asyncio edge over a :class:`TimerBook`); the local
server's assistant cannot ring a client (the API has no push), so it reports its timers
when asked, honestly including ones that already ended. Time is passed in, in seconds
on the owner's clock (the loop's clock, or epoch seconds); nothing reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timer", "TimerBook", "say_duration"]


@dataclass(frozen=True)
class Timer:
    id: int
    label: str
    duration_s: float
    due_at: float  # seconds on the book owner's clock

    @property
    def announcement(self) -> str:
        """A sentence to say when the timer runs out."""
        what = f"The {self.label} timer" if self.label else "Your timer"
        return f"{what} for {say_duration(self.duration_s)} is done."


def say_duration(seconds: float) -> str:
    """``1 hour, 2 minutes and 5 seconds``, ``1 minute and 30 seconds``, ``0.3 seconds``."""
    seconds = max(0.0, seconds)
    total = round(seconds)
    if total == 0:
        return f"{round(seconds, 1):g} seconds"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}"
             for n, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")) if n]
    return " and ".join(parts) if len(parts) <= 2 else f"{parts[0]}, {parts[1]} and {parts[2]}"


class TimerBook:
    """The timers of one owner (a conversation, a chat session). Not thread-safe: one
    thread owns it. Bounded: past ``max_timers`` the oldest is dropped. Timers that ran
    out stay listed by :meth:`active` for ``keep_ended_s``. Numbers start again at 1
    once the book is empty, as a person would count them."""

    MAX_TIMERS = 16
    KEEP_ENDED_S = 3600.0
    MAX_DURATION_S = 24 * 3600.0

    def __init__(self, *, max_timers: int = MAX_TIMERS, keep_ended_s: float = KEEP_ENDED_S,
                 max_duration_s: float = MAX_DURATION_S) -> None:
        self.max_timers = max_timers
        self.keep_ended_s = keep_ended_s
        self.max_duration_s = max_duration_s
        self._timers: list[Timer] = []
        self._next = 1

    def set(self, duration_s: float, now_s: float, label: str = "") -> Timer:
        """Start a timer that runs out ``duration_s`` after ``now_s``.

        Raises ``ValueError`` unless 0 < ``duration_s`` <= ``max_duration_s``.
        """
        if not 0 < duration_s <= self.max_duration_s:
            raise ValueError(f"a timer must last more than 0 s and at most "
                             f"{say_duration(self.max_duration_s)}")
        self._prune(now_s)
        if not self._timers:
            self._next = 1
        timer = Timer(self._next, label.strip(), duration_s, now_s + duration_s)
        self._next += 1
        self._timers.append(timer)
        del self._timers[:-self.max_timers]
        return timer

    def active(self, now_s: float) -> list[Timer]:
        """Every timer still known, running or recently run out, oldest first."""
        self._prune(now_s)
        return list(self._timers)

    def pending(self, now_s: float) -> list[tuple[Timer, float]]:
        """Running timers with their remaining seconds, soonest first."""
        running = sorted((t for t in self.active(now_s) if t.due_at > now_s),
                         key=lambda t: t.due_at)
        return [(t, t.due_at - now_s) for t in running]

    def remove(self, timer_id: int) -> Timer | None:
        """Forget timer ``timer_id``; returns it, or None if the book has no such timer."""
        for i, t in enumerate(self._timers):
            if t.id == timer_id:
                return self._timers.pop(i)
        return None

    def cancel_all(self, now_s: float) -> int:
        """Forget every timer; returns how many were running."""
        running = len(self.pending(now_s))
        self._timers.clear()
        return running

    def _prune(self, now_s: float) -> None:
        self._timers = [t for t in self._timers if now_s - t.due_at < self.keep_ended_s]
