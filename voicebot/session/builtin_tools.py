"""The tools voicebot ships: the time, arithmetic and kitchen timers.

``register_builtins(registry, timers=Timers(on_fire=...))`` adds them to a
:class:`~voicebot.session.tools.ToolRegistry`. Timers really fire: each is an
``loop.call_later`` handle, and a fired timer is passed to ``on_fire`` and put on
:attr:`Timers.fired` so the pipeline can announce it (e.g. by running a turn with
``timer.announcement``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicebot.session.tools import ToolRegistry
from voicebot.skills.calc import evaluate, format_number
from voicebot.skills.timers import Timer, TimerBook, say_duration
from voicebot.turntaking.events import Event, TimerCancelled, TimerSet

__all__ = ["Timer", "Timers", "register_builtins", "describe_time"]

#: Longest timer the tools set (the pure book's default is a day).
_MAX_TIMER_S = 7 * 24 * 3600.0


class Timers:
    """Timers that ring, on one asyncio loop: a :class:`~voicebot.skills.timers.TimerBook`
    on the loop's clock plus a ``call_later`` handle per running timer. Call every method
    on that loop's thread.

    ``on_fire(timer)`` runs on the loop thread when a timer fires; it must not
    block. Fired timers are also queued on :attr:`fired`. ``on_change(record)``, if
    given, receives a :class:`~voicebot.turntaking.events.TimerSet` or
    :class:`~voicebot.turntaking.events.TimerCancelled` record (loop thread) whenever a
    timer starts or stops before firing (the kiosk's screen counts them down).
    """

    def __init__(self, on_fire: Callable[[Timer], None] | None = None, *,
                 loop: asyncio.AbstractEventLoop | None = None,
                 on_change: Callable[[Event], None] | None = None) -> None:
        self._on_fire = on_fire
        self._on_change = on_change
        self._loop = loop
        # A fired timer leaves the book at once: only running timers are listed.
        self._book = TimerBook(keep_ended_s=0.0, max_duration_s=_MAX_TIMER_S)
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self.fired: asyncio.Queue[Timer] = asyncio.Queue()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def set(self, duration_s: float, label: str = "") -> Timer:
        """Start a timer that fires in ``duration_s`` seconds (``ValueError`` unless more
        than 0 s and at most 7 days). Past the book's bound the oldest timer is dropped."""
        loop = self._get_loop()
        timer = self._book.set(float(duration_s), loop.time(), label)
        self._handles[timer.id] = loop.call_later(duration_s, self._fire, timer.id)
        kept = {t.id for t in self._book.active(loop.time())}
        for dropped in [i for i in self._handles if i not in kept]:
            self._handles.pop(dropped).cancel()
            self._changed(TimerCancelled(id=str(dropped)))
        self._changed(TimerSet(id=str(timer.id), label=timer.label or None,
                               duration_s=timer.duration_s))
        return timer

    def pending(self) -> list[tuple[Timer, float]]:
        """Running timers with their remaining seconds, soonest first."""
        return self._book.pending(self._get_loop().time())

    def cancel(self, timer_id: int) -> bool:
        """Stop timer ``timer_id``; False if there is no such running timer."""
        handle = self._handles.pop(timer_id, None)
        if handle is None:
            return False
        handle.cancel()
        self._book.remove(timer_id)
        self._changed(TimerCancelled(id=str(timer_id)))
        return True

    def _changed(self, record: Event) -> None:
        if self._on_change is not None:
            self._on_change(record)

    def cancel_all(self) -> None:
        for timer_id in list(self._handles):
            self.cancel(timer_id)

    def _fire(self, timer_id: int) -> None:
        self._handles.pop(timer_id, None)
        timer = self._book.remove(timer_id)
        if timer is None:
            return
        self.fired.put_nowait(timer)
        if self._on_fire is not None:
            self._on_fire(timer)


def describe_time(utc_now: datetime, tz_name: str | None = None) -> str:
    """``utc_now`` (aware) as a sentence-ready local date and time. Pure.

    Raises ``ValueError`` for an unknown IANA time zone name.
    """
    if tz_name:
        try:
            zone: Any = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz_name!r}; use an IANA name "
                             "like Europe/Paris") from None
        local = utc_now.astimezone(zone)
    else:
        local = utc_now.astimezone()  # the machine's zone
        tz_name = local.tzname() or "local time"
    # Said aloud by a voice: minutes, not seconds, and the zone's name, not its offset.
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} ({tz_name})"


def register_builtins(registry: ToolRegistry, *, timers: Timers | None = None,
                      utc_now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
                      ) -> None:
    """Add ``get_current_time`` and ``calculate``, and the timer tools when ``timers``
    is given. ``utc_now`` is the clock the time tool reads."""

    @registry.tool(description="Get the current date and time, optionally in an IANA "
                               "time zone such as Europe/Paris or America/New_York.")
    def get_current_time(
            timezone: Annotated[str | None, "IANA time zone name; omit for local time"] = None,
    ) -> str:
        return describe_time(utc_now(), timezone)

    @registry.tool(description="Evaluate an arithmetic expression exactly, e.g. "
                               "'(17.5 * 3) / 4' or 'sqrt(2) ** 3'. Use it for any math.")
    def calculate(expression: Annotated[str, "the arithmetic expression"]) -> str:
        return format_number(evaluate(expression))

    if timers is None:
        return

    # Async so they run on the loop thread, where the timers live.
    @registry.tool(description="Start a countdown timer; it rings when it runs out.")
    async def set_timer(duration_s: Annotated[float, "length in seconds"],
                        label: Annotated[str, "what the timer is for"] = "") -> str:
        timer = timers.set(duration_s, label)
        return f"timer {timer.id} set for {say_duration(timer.duration_s)}"

    @registry.tool(description="List the running timers and the time left on each.")
    async def list_timers() -> list[dict[str, Any]]:
        return [{"id": t.id, "label": t.label, "remaining_s": round(left, 1)}
                for t, left in timers.pending()]

    @registry.tool(description="Cancel a running timer by its id.")
    async def cancel_timer(timer_id: Annotated[int, "the id from set_timer"]) -> str:
        return "cancelled" if timers.cancel(timer_id) else f"no running timer {timer_id}"
