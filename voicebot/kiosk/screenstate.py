"""What the kiosk's status screen shows, folded from the event records. Pure.

Feed :class:`ScreenState` the conversation's event records (:mod:`voicebot.turntaking.events`)
with the time they were published (seconds on the owner's monotonic clock); ask it
for a :meth:`~ScreenState.snapshot` at any time: the JSON object the page renders
(``{"type": "screen", …}``, see the README's "Status screen"). Timers are kept as
deadlines on that clock and handed out as seconds remaining, so the page counts down
with its own clock, and a wall-clock jump on the kiosk moves no timer.

The page's commands (``{"type": "talk"}``, ``{"type": "mute", "muted": bool}``) are
parsed here too (:func:`parse_command`), into :data:`ScreenCommand` records.

No I/O, no clock: time is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from ..turntaking.events import (
    ErrorEvent,
    Event,
    Interrupted,
    MuteChanged,
    StateChanged,
    TimerCancelled,
    TimerFired,
    TimerSet,
    TranscriptDelta,
    TurnDone,
    UserSaid,
    UtteranceDetected,
)

__all__ = ["ScreenState", "STATES", "Talk", "Mute", "ScreenCommand", "parse_command"]

#: The states the page knows (another name is shown as it is, in a neutral colour).
STATES = ("sleeping", "listening", "thinking", "speaking", "error")

#: A transient error (a failed turn) shows until a new turn starts or this long.
ERROR_HOLD_S = 10.0
#: A timer that ran out stays on the screen, marked done, this long.
DONE_HOLD_S = 30.0


@dataclass(frozen=True)
class Talk:
    """The talk button was tapped: start listening as if the wake word was heard."""


@dataclass(frozen=True)
class Mute:
    """The mute button: ``muted`` is what the user wants now."""
    muted: bool


ScreenCommand = Union[Talk, Mute]


def parse_command(message: str | bytes) -> ScreenCommand | None:
    """A page's message as a command; None for anything else (malformed, unknown)."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "talk":
        return Talk()
    if kind == "mute" and isinstance(data.get("muted"), bool):
        return Mute(data["muted"])
    return None


@dataclass
class _Exchange:
    """The last turn: what the user said and what they heard of the answer."""
    turn: int
    user_said: bool = False
    user: str | None = None
    user_audio_s: float | None = None
    assistant: str = ""
    interrupted: bool = False
    done: bool = False
    error: str | None = None


@dataclass(frozen=True)
class _Timer:
    id: str
    label: str | None
    duration_s: float | None  # None: only its firing was seen
    due_at: float
    fired_at: float | None = None

    def ended_at(self) -> float:
        return self.due_at if self.fired_at is None else min(self.fired_at, self.due_at)


class ScreenState:
    """The screen's state, one per screen. Use from one thread (the loop's).

    ``error_hold_s``: how long an ``error`` record (a failed turn) shows before the
    screen returns to the conversation's state (a new turn clears it sooner; a
    ``state`` record ``error`` shows until the next state record). ``done_hold_s``:
    how long a timer that ran out stays listed. ``max_text_chars``: the longest
    line of the exchange kept (the end is kept: the words just spoken).
    ``max_timers``: past this many, the oldest timer is forgotten.
    """

    def __init__(self, *, error_hold_s: float = ERROR_HOLD_S, done_hold_s: float = DONE_HOLD_S,
                 max_text_chars: int = 600, max_timers: int = 16,
                 announcement_prefix: str | None = None) -> None:
        if max_text_chars < 2:
            raise ValueError("max_text_chars must be at least 2")
        #: A user turn whose text starts with this is the kiosk's own announcement (a
        #: timer that fired, asked of the server as a text turn): nobody said it, so the
        #: exchange shows no user line.
        self.announcement_prefix = announcement_prefix
        self.error_hold_s = error_hold_s
        self.done_hold_s = done_hold_s
        self.max_text_chars = max_text_chars
        self.max_timers = max_timers
        self._state = "sleeping"
        self._fault: str | None = None  # a state record "error": until the next one
        self._error: str | None = None  # an error record: until _error_until
        self._error_until = 0.0
        self._muted = False
        self._exchange: _Exchange | None = None
        self._timers: dict[str, _Timer] = {}

    # ------------------------------------------------------------------ input

    def feed(self, record: Event, now_s: float) -> bool:
        """Take one record published at ``now_s``; True if the snapshot may have changed
        (records the screen does not show, such as ``audio``, answer False)."""
        self._prune(now_s)
        if isinstance(record, StateChanged):
            self._on_state(record)
        elif isinstance(record, MuteChanged):
            self._muted = record.muted
        elif isinstance(record, ErrorEvent):
            self._error, self._error_until = record.message, now_s + self.error_hold_s
            if record.turn is not None:
                if self._exchange is None or self._exchange.turn != record.turn:
                    self._exchange = _Exchange(record.turn)
                self._exchange.error = record.message
        elif isinstance(record, (UtteranceDetected, UserSaid, TranscriptDelta, TurnDone,
                                 Interrupted)):
            self._on_turn_record(record)
        elif isinstance(record, (TimerSet, TimerCancelled, TimerFired)):
            self._on_timer(record, now_s)
        else:
            return False
        return True

    def _on_state(self, record: StateChanged) -> None:
        if record.state == "error":
            self._fault = record.reason or "error"
            return
        self._fault = None
        self._state = record.state
        if record.state in ("thinking", "speaking"):
            self._error = None  # a new turn: the last one's failure is old news

    def _on_turn_record(self, record: UtteranceDetected | UserSaid | TranscriptDelta
                        | TurnDone | Interrupted) -> None:
        ex = self._exchange
        # A turn's first record starts its exchange: a record of another turn, or one
        # that opens a turn (turn numbers restart with a new conversation).
        if (ex is None or ex.turn != record.turn or isinstance(record, UtteranceDetected)
                or (isinstance(record, UserSaid) and (ex.user_said or ex.done))):
            ex = self._exchange = _Exchange(record.turn)
        if isinstance(record, UserSaid):
            ex.user_said = True
            prefix = self.announcement_prefix
            announced = bool(prefix and record.text and record.text.startswith(prefix))
            ex.user = None if announced else record.text or record.transcript
            ex.user_audio_s = record.audio_s
        elif isinstance(record, TranscriptDelta):
            ex.assistant = self._clip(ex.assistant + record.text)
        elif isinstance(record, TurnDone):
            ex.done = True
            if record.text:
                ex.assistant = self._clip(record.text)
        elif isinstance(record, Interrupted):
            ex.interrupted = True
            ex.assistant = self._clip(record.text)

    def _on_timer(self, record: TimerSet | TimerCancelled | TimerFired, now_s: float) -> None:
        if isinstance(record, TimerSet):
            self._timers.pop(record.id, None)  # ids are reused once the book is empty
            self._timers[record.id] = _Timer(record.id, record.label, record.duration_s,
                                             now_s + record.duration_s)
        elif isinstance(record, TimerCancelled):
            self._timers.pop(record.id, None)
        else:
            old = self._timers.get(record.id)
            if old is None:  # set before the screen knew, or forgotten: shown as done
                self._timers[record.id] = _Timer(record.id, record.label, None, now_s, now_s)
            else:
                self._timers[record.id] = _Timer(old.id, old.label, old.duration_s, old.due_at,
                                                 now_s)
        # Whatever added it (a fired timer the screen never saw set, too), the oldest
        # beyond max_timers is forgotten.
        while len(self._timers) > self.max_timers:
            del self._timers[next(iter(self._timers))]

    def _clip(self, text: str) -> str:
        limit = self.max_text_chars
        return text if len(text) <= limit else "…" + text[len(text) - limit + 1:]

    def _prune(self, now_s: float) -> None:
        for timer in [t for t in self._timers.values()
                      if now_s >= t.ended_at() + self.done_hold_s]:
            del self._timers[timer.id]

    # ------------------------------------------------------------------ output

    def next_change_at(self, now_s: float) -> float | None:
        """When the snapshot next changes with no record fed (an error's hold ends, a
        timer runs out or leaves the list); None: not before the next record. The page
        counts timers down itself: their seconds need no snapshot."""
        times = [t for t in self._times() if t > now_s]
        return min(times) if times else None

    def _times(self) -> list[float]:
        times = [self._error_until] if self._error is not None else []
        for t in self._timers.values():
            times += [t.due_at, t.ended_at() + self.done_hold_s]
        return times

    def snapshot(self, now_s: float, wall_s: float) -> dict[str, Any]:
        """The screen at ``now_s`` (monotonic) as a JSON object; ``wall_s`` (seconds
        since the epoch, the kiosk's clock) lets the page show the kiosk's time."""
        state, reason = self._state, None
        if self._fault is not None:
            state, reason = "error", self._fault
        elif self._error is not None and now_s < self._error_until:
            state, reason = "error", self._error
        ex = self._exchange
        exchange = None if ex is None else {
            "turn": ex.turn, "user": ex.user, "user_audio_s": ex.user_audio_s,
            "assistant": ex.assistant, "interrupted": ex.interrupted, "done": ex.done,
            "error": ex.error}
        timers = [
            {"id": t.id, "label": t.label, "duration_s": t.duration_s,
             "remaining_s": round(max(0.0, t.due_at - now_s), 3),
             "done": t.fired_at is not None or now_s >= t.due_at}
            for t in sorted(self._timers.values(), key=lambda t: t.due_at)
            if now_s < t.ended_at() + self.done_hold_s]
        return {"type": "screen", "state": state, "reason": reason, "muted": self._muted,
                "exchange": exchange, "timers": timers, "clock_s": round(wall_s, 3)}
