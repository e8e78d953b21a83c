"""The API server's reachability as the kiosk knows it, and when to probe it. Pure.

Fed what happened (a turn failed on the transport, one succeeded, a probe's result)
with the time, :class:`UpstreamHealth` says what to do: announce the outage once,
when to probe next, announce the recovery. Back-off between probes: 1, 2, 4, 8,
16, then every 30 s. :mod:`.upstream` carries it out on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..audio.backoff import Backoff

__all__ = ["UpstreamHealth", "Change", "probe_delays_s"]

_FIRST_DELAY_S = 1.0
_MAX_DELAY_S = 30.0


def _probe_backoff() -> Backoff:
    return Backoff(initial_s=_FIRST_DELAY_S, max_s=_MAX_DELAY_S)


def probe_delays_s(count: int) -> list[float]:
    """The first ``count`` waits between probes."""
    backoff = _probe_backoff()
    return [backoff.next_delay_s() for _ in range(count)]


@dataclass(frozen=True)
class Change:
    """The server went down (``up`` False: say so once) or came back (True)."""
    up: bool
    message: str


class UpstreamHealth:
    """The upstream's state as the kiosk knows it. Pure; one thread.

    :attr:`next_probe_at` is when to probe next (None: up, no probing).
    """

    def __init__(self) -> None:
        self.up = True
        self.next_probe_at: float | None = None
        self._backoff = _probe_backoff()
        self._reason = ""

    def failed(self, reason: str, now: float) -> Change | None:
        """A turn failed because the server could not be reached (or went silent)."""
        if not self.up:
            return None
        self.up = False
        self._backoff.reset()
        self._reason = reason
        self.next_probe_at = now + self._backoff.next_delay_s()
        return Change(False, f"the server cannot be reached ({reason}); retrying")

    def probed(self, reachable: bool, now: float) -> Change | None:
        """A probe's result."""
        if self.up:
            return None
        if reachable:
            return self.succeeded()
        self.next_probe_at = now + self._backoff.next_delay_s()
        return None

    def succeeded(self) -> Change | None:
        """The server answered (a probe connected, or a turn went through)."""
        self.next_probe_at = None
        if self.up:
            return None
        self.up = True
        return Change(True, "the server can be reached again")
