"""systemd's notify protocol: READY=1, STATUS=…, WATCHDOG=1 on ``$NOTIFY_SOCKET``.

Written by hand: the protocol is one datagram of ``KEY=VALUE`` lines sent to a unix
socket whose path systemd puts in ``NOTIFY_SOCKET`` (a leading ``@`` means Linux's
abstract namespace). The libraries that do it either need libsystemd and a C
compiler (``systemd-python``, ``cysystemd``: no wheels for every Python on
aarch64) or have not been released since 2017 (``sdnotify``); twenty lines here
have no such risk.

:class:`Notifier` does nothing when the variable is unset (not under systemd), so
the kiosk calls it unconditionally. :class:`Watchdog` pings ``WATCHDOG=1`` from a
task on the event loop, and only while a health check passes: a loop that froze
runs no task, and a capture that stalled fails the check, so either stops the
pings and systemd restarts the service after ``WatchdogSec=``.

Threads: everything runs on the event loop's thread (a datagram to a local socket
does not block).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping

from ..turntaking.events import ErrorEvent, Event, StateChanged

__all__ = ["Notifier", "Watchdog", "watchdog_interval_s"]

log = logging.getLogger(__name__)


class Notifier:
    """Sends notify messages to ``NOTIFY_SOCKET`` (from ``env``); a no-op without it."""

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        path = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if path.startswith("@"):
            self._address = b"\0" + path[1:].encode()
        elif path.startswith("/"):
            self._address = path
        self._socket: socket.socket | None = None
        self._failed = False
        #: The last STATUS= sent (what ``systemctl status`` shows).
        self.status = ""
        self._state = ""
        self._problem: str | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=VALUE`` lines (``send(READY="1", STATUS="listening")``).
        Returns whether they were sent. A failure is logged once, never raised: the
        service must not die because its supervisor went away."""
        if self._address is None:
            return False
        message = "".join(f"{key}={value}\n" for key, value in fields.items())
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never wait on the loop: a receiver whose queue is full (systemd busy)
                # drops this message instead (the next ping comes soon enough).
                self._socket.setblocking(False)
            self._socket.sendto(message.encode(), self._address)
        except BlockingIOError:
            return False
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify systemd (%s)", exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str) -> None:
        self.status = status
        self.send(READY="1", STATUS=status)

    def set_status(self, status: str) -> None:
        """STATUS=…, sent when it changes."""
        if status != self.status:
            self.status = status
            self.send(STATUS=status)

    def stopping(self) -> None:
        self.send(STOPPING="1", STATUS="stopping")

    def set_problem(self, problem: str | None) -> None:
        """A lasting problem (the server is unreachable) shown after every state until
        it is cleared (None)."""
        self._problem = problem
        self.show_state()

    def show_state(self) -> None:
        """STATUS= the state, with the lasting problem if any."""
        self.set_status(self._state + (f" ({self._problem})" if self._problem else ""))

    def on_event(self, event: Event) -> None:
        """A driver subscriber: the conversation's state (and errors) as STATUS."""
        if isinstance(event, StateChanged):
            self._state = event.state
            self.show_state()
        elif isinstance(event, ErrorEvent):
            self.set_status(f"error: {event.message}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval_s(env: Mapping[str, str] = os.environ, pid: int | None = None
                        ) -> float | None:
    """How often to ping (half of ``WATCHDOG_USEC``, as sd_watchdog_enabled advises),
    or None when systemd asked for no watchdog (or for another process's)."""
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1e6 / 2


class Watchdog:
    """Pings ``WATCHDOG=1`` every ``interval_s`` while ``healthy()`` says so. Loop thread.

    ``healthy()`` returns None when all is well, else why not (logged once per spell,
    and the ping is skipped). Run :meth:`run` as a task.
    """

    def __init__(self, notifier: Notifier, interval_s: float,
                 healthy: Callable[[], str | None]) -> None:
        self._notifier = notifier
        self._interval_s = interval_s
        self._healthy = healthy
        self._unhealthy: str | None = None
        #: Pings sent (for tests and -v).
        self.pings = 0

    def check(self) -> None:
        """One round: ping if healthy."""
        problem = self._healthy()
        if problem is None:
            if self._unhealthy is not None:
                log.info("watchdog: healthy again")
            self._unhealthy = None
            if self._notifier.send(WATCHDOG="1"):
                self.pings += 1
            return
        if problem != self._unhealthy:
            log.warning("watchdog: not pinging (%s)", problem)
            self._unhealthy = problem

    async def run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                self.check()
                await asyncio.sleep(self._interval_s)
