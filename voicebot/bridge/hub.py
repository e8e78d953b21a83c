"""What a bridge process's connections share: options, the upstream, the sessions.

One :class:`Hub` per bridge process. It admits sessions (``--max-sessions``), builds
each one's conversation (its own turn-taking core, history, tools and timers; only
the HTTP pool is shared), and runs one watchdog task for all of them: a client that
stopped reading, an idle session, or a drain (SIGTERM) closes a session from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import httpx

from ..capture.vad import UtteranceDetector
from ..config import Settings
from ..errors import Redactor
from ..session.builtin_tools import Timer
from ..session.turn import Session
from ..turntaking import Policy
from .stats import DelayHistogram
from .wire import CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY

if TYPE_CHECKING:
    from ..session.builtin_tools import Timers

__all__ = ["Channel", "BridgeOptions", "Hub", "Closable"]

log = logging.getLogger("voicebot.bridge")


class Channel(Protocol):
    """One websocket connection as the bridge uses it (Starlette's or a test's).

    ``receive`` returns the next message (``bytes`` or ``str``) or None once the
    client has gone; ``send`` awaits the transport's backpressure; ``close`` sends
    the close frame and does not wait on a client that stopped reading.
    """

    async def receive(self) -> bytes | str | None: ...

    async def send(self, message: bytes | str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class Closable(Protocol):
    """What the watchdog needs of a running session."""

    def check(self, now: float) -> tuple[int, str] | None: ...

    def request_close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class BridgeOptions:
    """The bridge's limits. Durations in seconds.

    - ``token``: required in every ``hello`` (None: none needed; loopback only).
    - ``origins``: browser origins allowed besides the bridge's own.
    - ``max_sessions``: more are closed with 1013.
    - ``hello_timeout_s``: a connection must say hello within this.
    - ``idle_timeout_s``: a session that receives nothing (no audio, no message)
      this long while no reply is running is closed with 1000.
    - ``stall_limit_s``: a client that does not take a message for this long (it
      stopped reading) is closed with 1008.
    - ``outbox_bytes``: what may wait to be sent to one client (reply audio
      arrives faster than real time; 1 MiB is about 20 s of it).
    - ``drain_timeout_s``: on SIGTERM, running replies get this long to finish.
    - ``report_timeout_s``: a client that stops reporting ``played`` is not waited
      for longer than this past the reply's real-time end.
    """

    token: str | None = None
    origins: tuple[str, ...] = ()
    max_sessions: int = 100
    hello_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0
    stall_limit_s: float = 10.0
    outbox_bytes: int = 1 << 20
    drain_timeout_s: float = 30.0
    report_timeout_s: float = 2.0
    twilio_auth_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the token is a secret
        return (f"BridgeOptions(origins={self.origins!r}, max_sessions={self.max_sessions}, "
                f"token={'set' if self.token else 'none'})")


def bridge_policy(settings: Settings) -> Policy:
    """Barge-in on: browsers and phones cancel the echo of the reply themselves."""
    return settings.turn_policy(barge_in=True, pace_transcript=True)


class Hub:
    """Shared by every connection of one bridge process. Loop thread only.

    ``make_session(settings, base_url, on_timer, http)`` builds a conversation's
    session (``voicebot.pipeline.make_session``; tests pass their own).
    """

    def __init__(self, settings: Settings, base_url: str, pool: httpx.AsyncClient,
                 options: BridgeOptions, *,
                 make_session: Callable[..., tuple[Session, Timers]],
                 redact: Redactor | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 watch_interval_s: float = 0.25) -> None:
        self.settings = settings
        self.base_url = base_url
        self.pool = pool
        self.options = options
        self.redact = redact if redact is not None else Redactor()
        self.redact.add(options.token)
        self.redact.add(options.twilio_auth_token)
        self.clock = clock
        self._make_session = make_session
        self.segmenter = settings.segmenter_config()
        self.policy = bridge_policy(settings)
        self.sessions: dict[str, Closable] = {}
        self._reserved = 0
        self.draining = False
        self.drain_deadline: float | None = None
        self._watch_interval_s = watch_interval_s
        self._watcher: asyncio.Task[None] | None = None
        #: Per frame: arrival to end of processing (``GET /stats``).
        self.frame_delays = DelayHistogram()

    # -- admission --------------------------------------------------------------------

    def token_ok(self, given: str | None) -> bool:
        want = self.options.token
        if want is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), want.encode())

    def reserve(self) -> bool:
        """Take a session slot (False: full). Give it back with :meth:`release`."""
        if self.draining or self._reserved >= self.options.max_sessions:
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        self._reserved -= 1

    def add(self, session_id: str, session: Closable) -> None:
        self.sessions[session_id] = session
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def remove(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    # -- conversations ------------------------------------------------------------------

    def conversation_parts(self, voice: str | None, on_timer: Callable[[Timer], None]
                           ) -> tuple[Session, Timers, UtteranceDetector]:
        settings = self.settings if not voice else dataclasses.replace(self.settings, voice=voice)
        session, timers = self._make_session(settings, self.base_url, on_timer, http=self.pool)
        return session, timers, UtteranceDetector(self.segmenter)

    # -- the watchdog ---------------------------------------------------------------------

    async def _watch(self) -> None:
        while self.sessions:
            await asyncio.sleep(self._watch_interval_s)
            now = self.clock()
            for session in list(self.sessions.values()):
                verdict = session.check(now)
                if verdict is not None:
                    session.request_close(*verdict)

    def drain(self) -> None:
        """Stop admitting sessions; each running one closes with 1001 once its reply
        is over, or at ``drain_timeout_s`` from now."""
        if not self.draining:
            self.draining = True
            self.drain_deadline = self.clock() + self.options.drain_timeout_s
            log.info("draining %d session(s)", len(self.sessions))

    async def drained(self) -> None:
        """Wait until every session has closed (after :meth:`drain`)."""
        while self.sessions or self._reserved:
            await asyncio.sleep(0.05)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    def verdict(self, now: float, *, last_heard: float, stalled_s: float,
                replying: bool) -> tuple[int, str] | None:
        """Why a session must close now (None: it goes on); the rules in one place."""
        o = self.options
        if stalled_s > o.stall_limit_s:
            return CLOSE_POLICY, f"client does not read (nothing taken for {o.stall_limit_s:g} s)"
        if self.draining:
            deadline = self.drain_deadline if self.drain_deadline is not None else now
            if not replying or now >= deadline:
                return CLOSE_GOING_AWAY, "going away: the bridge is shutting down"
        if not replying and now - last_heard > o.idle_timeout_s:
            return CLOSE_NORMAL, f"idle: nothing received for {o.idle_timeout_s:g} s"
        return None
