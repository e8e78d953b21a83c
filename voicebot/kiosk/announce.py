"""Proactive speech: a timer that fired (or the kiosk itself) says something unprompted.

The core answers a :class:`~voicebot.turntaking.inputs.TimerDue` with an earcon and
a :class:`~voicebot.turntaking.inputs.Say`. :class:`Announcer` carries the ``Say``
out in the server's voice when the server can be reached: a text turn of its own
("Repeat after me: …", which the embedded server echoes without calling a tool),
queued behind a reply in progress, let through whatever the wake-word gate says,
and kept in the history (a later "did my timer ring?" can be answered). When the
server is down, or that turn fails, :class:`LocalVoice` speaks the line with the
local speech engine (eSpeak NG, ``voicebot.speech``) through the speaker's clip
mixer.

Loop thread throughout; synthesis runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np
import soxr

from ..audio.convert import pcm16_to_float
from ..driver import Driver
from ..errors import VoicebotError
from ..protocol.request import text_part
from ..speech.synth import OUTPUT_SAMPLE_RATE
from ..turntaking.events import ErrorEvent, Event, TurnDone, UserSaid
from ..turntaking.inputs import UserParts

__all__ = ["Announcer", "LocalVoice", "PROMPT"]

log = logging.getLogger(__name__)

#: How an announcement is asked of the server: the embedded server repeats what
#: follows, a language model reads it out.
PROMPT = "Repeat after me: "


class LocalVoice:
    """Speaks a line with eSpeak NG on the speaker's clip mixer, one line at a time.

    ``play(samples)`` plays float32 mono at ``sample_rate`` (the speaker's rate).
    """

    def __init__(self, play: Callable[[np.ndarray], None], sample_rate: int, *,
                 voice: str) -> None:
        self._play = play
        self._rate = sample_rate
        self._voice = voice
        self._synth: object | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def say(self, text: str) -> None:
        """Speak ``text`` soon (after a line still being spoken)."""
        task = asyncio.get_running_loop().create_task(self._say(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _say(self, text: str) -> None:
        async with self._lock:
            try:
                samples = await asyncio.to_thread(self._render, text)
                self._play(samples)
            except VoicebotError as exc:  # no eSpeak, or the speaker failed
                log.warning("cannot speak locally: %s", exc)
                return
            await asyncio.sleep(len(samples) / self._rate)  # the next line after this one

    def _render(self, text: str) -> np.ndarray:
        """Worker thread: the line as float32 at the speaker's rate."""
        from ..speech.synth import Synthesizer

        if self._synth is None:
            self._synth = Synthesizer()
        assert isinstance(self._synth, Synthesizer)
        pcm = b"".join(self._synth.synthesize(text, voice=self._voice))
        samples = pcm16_to_float(pcm)
        if self._rate != OUTPUT_SAMPLE_RATE:
            samples = soxr.resample(samples, OUTPUT_SAMPLE_RATE, self._rate).astype(np.float32)
        return samples

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Announcer:
    """Carries out the core's ``Say``: through the server, else locally.

    ``use_server()`` says whether to ask the server (it is believed reachable).
    The line comes ``after_s`` after the ``Say`` (the timer's earcon first). Subscribe
    :meth:`on_event` to the driver: it learns which turn carries an announcement,
    and speaks it locally if that turn fails.
    """

    def __init__(self, driver: Driver, local: LocalVoice, use_server: Callable[[], bool], *,
                 after_s: float = 0.0) -> None:
        self._driver = driver
        self._after_s = after_s
        self._local = local
        self._use_server = use_server
        self._waiting: list[str] = []  # announcements sent, their turn not started yet
        self._turns: dict[int, str] = {}

    def say(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        if not self._use_server():
            loop.call_later(self._after_s, self._local.say, text)
            return
        prompt = PROMPT + text
        self._waiting.append(prompt)
        # Fed later (never from inside the core's own answer), once the earcon has
        # played: the request's work must not compete with it.
        loop.call_later(
            self._after_s, self._driver.feed, UserParts((text_part(prompt),), text=prompt))

    def on_event(self, event: Event) -> None:
        if isinstance(event, UserSaid) and event.text in self._waiting:
            self._waiting.remove(event.text)
            self._turns[event.turn] = event.text[len(PROMPT):]
        elif isinstance(event, TurnDone):
            self._turns.pop(event.turn, None)
        elif isinstance(event, ErrorEvent) and event.turn in self._turns:
            self._local.say(self._turns.pop(event.turn))
