"""Starting, aborting and closing a PortAudio output stream without ever blocking the loop.

:class:`OutputSwitch` owns the mechanics :class:`~.speaker.Speaker` needs around its
stream: it is started for a reply, aborted when idle or cut (abort returns at once:
0.2-0.5 ms on PipeWire, and drops what was queued), stopped and closed at the end.
Stops and closes run on a thread of their own (:meth:`OutputSwitch.off_loop`): on a
sound server that died under a running stream PortAudio's abort/stop/close can block
for good (the ALSA plugin waits for an answer that never comes), and the loop must go
on (capture, the conversation, the watchdog). It also tells a stream's finished
callback that follows our own stop from one that means the device failed.

When to start and stop (replies, clips, the linger) is the speaker's business.
Loop thread throughout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import AudioDeviceError

__all__ = ["OutputSwitch", "CLOSE_TIMEOUT_S"]

#: How long closing (or starting after an idle stop) waits for PortAudio before the
#: device counts as stuck: a healthy stop takes under a millisecond, a drain of the
#: "high" latency buffer ~40 ms.
CLOSE_TIMEOUT_S = 1.0


class OutputSwitch:
    """Runs and rests ``stream`` (an opened ``sounddevice.OutputStream``) for a speaker.

    ``port_audio_error`` is sounddevice's ``PortAudioError`` (what ``start`` raises);
    ``device_name`` names the device in errors. Loop thread.
    """

    def __init__(self, stream: Any, port_audio_error: type[Exception], device_name: str) -> None:
        self.stream = stream
        self._port_audio_error = port_audio_error
        self._device_name = device_name
        self.running = False
        """Whether the stream runs (started by :meth:`start`, until an abort or close)."""
        self.starts = 0
        """How many times :meth:`start` started it."""
        # Stops we made whose finished callback has not reached the loop yet: those
        # are not failures.
        self._stops_pending = 0
        # The thread stopping or closing the stream off the loop (see off_loop).
        self._releasing: threading.Thread | None = None

    def rest_at_once(self) -> None:
        """Start and abort the freshly opened stream: on PipeWire's ALSA plugin a stream
        that was opened but never started is still run every graph cycle (1.1 % of a
        core here, as much as a running one), while a stopped one rests. 0.4 ms. Raises
        the ``port_audio_error`` of a stream that cannot start."""
        self.stream.start()
        self._stops_pending += 1
        self.stream.abort()

    def start(self) -> None:
        """Make sure the stream runs. Raises :class:`AudioDeviceError` when the last
        stop is still stuck or PortAudio cannot start it."""
        if self.running:
            return
        releasing = self._releasing
        if releasing is not None:
            releasing.join(CLOSE_TIMEOUT_S)  # the last abort (0.2 ms when healthy)
            if releasing.is_alive():
                raise AudioDeviceError(f"output device {self._device_name!r} stopped responding")
            self._releasing = None
        try:
            self.stream.start()
        except self._port_audio_error as exc:
            raise AudioDeviceError(
                f"output device {self._device_name!r} cannot start ({exc})") from None
        self.running = True
        self.starts += 1

    def abort(self, wait_s: float) -> bool:
        """Abort the running stream, dropping what is queued; wait up to ``wait_s`` for
        PortAudio. True if it returned (its callback can no longer run)."""
        self._stops_pending += 1
        self.running = False
        stream = self.stream
        return self.off_loop(lambda: stream.abort(ignore_errors=True), wait_s)

    def close(self, *, stop: bool) -> None:
        """Close the stream (after stopping it, playing what is queued, with ``stop``),
        waiting up to :data:`CLOSE_TIMEOUT_S`; a stop already stuck is left alone."""
        self.running = False
        if self._releasing is not None:
            self._releasing.join(CLOSE_TIMEOUT_S)
            if self._releasing.is_alive():
                return  # stuck on a dead device: closing would be too
        stream = self.stream

        def release() -> None:
            if stop:
                stream.stop(ignore_errors=True)
            stream.close(ignore_errors=True)

        self.off_loop(release, CLOSE_TIMEOUT_S)

    @property
    def released(self) -> bool:
        """No stop or close of ours is still running (or stuck)."""
        return self._releasing is None or not self._releasing.is_alive()

    def finished_by_us(self) -> bool:
        """The stream's finished callback reached the loop: True if it follows a stop of
        ours (counted off), False if the stream ended by itself (the device failed)."""
        if self._stops_pending > 0:
            self._stops_pending -= 1
            return True
        self.running = False
        return False

    def off_loop(self, release: Callable[[], None], wait_s: float) -> bool:
        """Run ``release`` (stopping or closing the stream) on a daemon thread of its
        own, left to end with the process if it never returns, and wait up to
        ``wait_s`` for it; True if it finished."""
        thread = threading.Thread(target=release, name="vb-speaker-stop", daemon=True)
        self._releasing = thread
        thread.start()
        thread.join(wait_s)
        return not thread.is_alive()
