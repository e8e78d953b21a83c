"""The process's PortAudio: who has a stream open, and re-initialising it to rescan.

PortAudio lists devices once, when it is initialised (sounddevice does that on
import). If that happened while the sound server was down, the list stays empty (or
holds only the ALSA hardware) until PortAudio is terminated and initialised again:
``sounddevice._terminate()`` then ``sounddevice._initialize()``. ``Pa_Terminate``
closes every open stream under its owner's feet (a later call on a sounddevice
stream object would touch freed memory), so :meth:`PortAudioHost.rescan` does it
only while no stream is open: every stream voicebot opens is counted here, and a
capture thread still blocked in a read on a dead stream keeps its count (the stream
is not closed until the read returns).

Any thread (a lock guards the count).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

from ..devices import sounddevice_module

__all__ = ["PortAudioHost"]


class PortAudioHost:
    """Counts the open streams of one process run; rescans the devices when none is.

    One per command run, shared by the microphone and the speaker supervisors
    (:mod:`voicebot.recovery`). ``epoch`` grows whenever a device is lost or
    PortAudio is rescanned: a stream opened in an older epoch may be dead without
    knowing it (an idle output stream on a restarted PipeWire), and its owner
    reopens it before relying on it. Listeners (:meth:`add_listener`) hear of every
    failed stream at once: the speaker reopens while the microphone waits, so its
    new stream is linked before the next reply.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        #: Streams counted as open now.
        self.rescans = 0
        self.epoch = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def open_streams(self) -> int:
        return self._open

    def opened(self) -> None:
        with self._lock:
            self._open += 1

    def closed(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)

    def stuck(self) -> None:
        """A stream could not be closed (PortAudio blocks in it: its sound server died).

        sounddevice terminates PortAudio at exit, which closes every stream and would
        block on that one for good: the process would never exit. Its exit handler is
        dropped, so the process ends without terminating PortAudio (the OS frees what
        it held). Any thread.
        """
        sd = sounddevice_module()
        handler = getattr(sd, "_exit_handler", None)
        if handler is not None:
            atexit.unregister(handler)

    def add_listener(self, on_failure: Callable[[], None]) -> None:
        """Call ``on_failure`` (loop thread) whenever :meth:`stream_failed` is called."""
        self._listeners.append(on_failure)

    def stream_failed(self) -> None:
        """A stream failed (not merely moved): the sound server may have gone, and every
        stream opened before now with it. Loop thread: tells the listeners."""
        with self._lock:
            self.epoch += 1
        for listener in list(self._listeners):
            listener()

    def rescan(self) -> bool:
        """Re-initialise PortAudio so it lists the devices again, if no stream is open.

        Returns whether it did. Call from a worker thread (a rescan takes tens of ms
        on ALSA). Raises nothing: a failure to initialise shows as no devices, and the
        next open attempt says so.
        """
        with self._lock:
            if self._open:
                return False
            sd = sounddevice_module()
            try:
                sd._terminate()
            except Exception:  # noqa: BLE001 - not initialised: initialise below anyway
                pass
            try:
                sd._initialize()
            except Exception:  # noqa: BLE001 - retried at the next attempt
                return False
            self.rescans += 1
            self.epoch += 1
            return True
