"""The speaker's output device: found, opened, and its stream run only around replies.

The device side of :class:`~.speaker.Speaker`. :func:`find_output` looks the device
up (its name, default rate, mono if it takes mono); :class:`OutputDevice` opens its
stream with the speaker's :class:`~.outcallback.OutputCallback`, starts it when the
speaker has something to play and stops it ``linger_ms`` after the last sample was
heard, aborts it for a cut, closes it, and tells a stream that ended by itself (the
device failed) from one we stopped. The mechanics of starting, aborting and closing
without blocking the loop are :class:`~.outstream.OutputSwitch`'s; what is played,
and so whether the speaker is idle, is the speaker's.

Threads: the *loop thread* (the speaker's) for everything but
:meth:`OutputDevice._on_stream_finished`, PortAudio's finished callback, which only
hands over to the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..devices import sounddevice_module
from ..errors import AudioDeviceError
from .outcallback import OutputCallback
from .outstream import OutputSwitch

__all__ = ["OutputDevice", "OutputFormat", "find_output"]


@dataclass(frozen=True)
class OutputFormat:
    """An output device as a speaker opens it (see :func:`find_output`)."""

    device: int | str | None
    """As the user named it: a PortAudio index, a name (substring) or None."""
    label: str
    """How errors name it: "default output device", "output device 'USB'"."""
    device_name: str
    """PortAudio's name for it."""
    sample_rate: int
    channels: int
    blocksize: int


def find_output(device: int | str | None, *, channels: int | None,
                blocksize_ms: float) -> OutputFormat:
    """Look the output device ``device`` up (a PortAudio index, a name (substring) or
    ``None`` for the default output): its default sample rate, and ``channels`` or, if
    None, mono if the device takes mono (else its channels). Raises
    :class:`AudioDeviceError` naming the device if there is no such output."""
    sd = sounddevice_module()
    name = "default output device" if device is None else f"output device {device!r}"
    try:
        info = sd.query_devices(device, "output")
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(f"{name}: {exc}") from None
    if info["max_output_channels"] < 1:
        raise AudioDeviceError(f"{name}: has no output channels")
    sample_rate = int(info["default_samplerate"])
    return OutputFormat(device, name, info["name"], sample_rate,
                        channels or _pick_channels(sd, device, info),
                        max(1, round(sample_rate * blocksize_ms / 1000.0)))


def _pick_channels(sd: Any, device: int | str | None, info: dict[str, Any]) -> int:
    for channels in (1, 2):
        try:
            sd.check_output_settings(device=device, channels=channels, dtype="float32",
                                     samplerate=info["default_samplerate"])
            return channels
        except (ValueError, sd.PortAudioError):
            continue
    return int(info["max_output_channels"])


class OutputDevice:
    """The stream of the output device ``fmt``, played by ``callback``, with PortAudio's
    suggested output ``latency``; opened here and left resting. Raises
    :class:`AudioDeviceError` naming the device if it cannot be opened or started.
    Loop thread.

    ``idle(reply_id)``: reply ``reply_id`` is still the speaker's last, over and played
    out (see :meth:`schedule_idle_stop`); ``busy()``: something plays that is no reply
    (a clip); ``on_failure``: the stream ended by itself (called on the loop thread).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fmt: OutputFormat,
                 callback: OutputCallback, *, latency: float | str, linger_ms: float,
                 drain_margin_ms: float, idle: Callable[[int], bool],
                 busy: Callable[[], bool],
                 on_failure: Callable[[AudioDeviceError], None]) -> None:
        self._loop = loop
        self.device_name = fmt.device_name
        self._idle, self._busy, self._on_failure = idle, busy, on_failure
        self._drain_margin_s = drain_margin_ms / 1000.0
        self.failure: AudioDeviceError | None = None
        """Why the stream cannot play (it failed to start, or ended by itself)."""
        self.closing = False
        sd = sounddevice_module()
        try:
            self._stream = sd.OutputStream(
                device=fmt.device, samplerate=fmt.sample_rate, channels=fmt.channels,
                dtype="float32", blocksize=fmt.blocksize, latency=latency,
                callback=callback, finished_callback=self._on_stream_finished)
            self.latency_s = float(self._stream.latency)
            """The output latency PortAudio reported when the stream opened."""
            callback.latency_s = self.latency_s
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(f"{fmt.label}: cannot open for output at "
                                   f"{fmt.sample_rate} Hz ({exc})") from None
        # Stream lifecycle (loop thread): started for a reply, stopped when idle.
        self._switch = OutputSwitch(self._stream, sd.PortAudioError, self.device_name)
        self._linger_s = linger_ms / 1000.0
        self._idle_stop: asyncio.TimerHandle | None = None
        try:
            self._switch.rest_at_once()
        except sd.PortAudioError as exc:
            self._stream.close(ignore_errors=True)
            raise AudioDeviceError(f"{fmt.label}: cannot start output ({exc})") from None

    # ------------------------------------------------- stream lifecycle (loop thread)

    @property
    def running(self) -> bool:
        """Whether the output stream runs: a reply plays, or the linger after it."""
        return self._switch.running

    @property
    def stream_starts(self) -> int:
        """How many times the stream was started for a reply (or a clip)."""
        return self._switch.starts

    @property
    def stream_closed(self) -> bool:
        """Whether the stream is closed: False before :meth:`close`, and after it while
        PortAudio is still stuck closing a stream whose sound server vanished."""
        return self.closing and self._switch.released

    def run(self) -> None:
        """A reply begins: make sure the stream runs (and stays running)."""
        self.cancel_idle_stop()
        if self.closing:
            return
        try:
            self._switch.start()
        except AudioDeviceError as exc:
            self.failure = exc
            raise

    def schedule_idle_stop(self, reply_id: int, tail_s: float) -> None:
        """The reply's last sample left the callback: stop once it has been heard
        (``tail_s`` + the drain margin, as the speaker's ``drained`` waits) and the
        linger is over."""
        self.cancel_idle_stop()
        delay_s = max(0.0, tail_s) + self._drain_margin_s + self._linger_s
        self._idle_stop = self._loop.call_later(delay_s, self._stop_if_idle, reply_id)

    def cancel_idle_stop(self) -> None:
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None

    def _stop_if_idle(self, reply_id: int) -> None:
        self._idle_stop = None
        idle = self._idle(reply_id)
        if not idle or not self._switch.running or self.closing or self.failure is not None:
            return
        if self._busy():  # a clip still plays: look again once it can have ended
            self.schedule_idle_stop(reply_id, 0.05)
            return
        # abort, not stop: what is still queued is silence (the tail was heard), and
        # abort returns at once (0.2 ms on PipeWire; stop waits for the buffer).
        self._switch.abort(0.0)

    def cut(self, wait_s: float) -> bool:
        """Abort the running stream at once, waiting up to ``wait_s`` for PortAudio.
        True if it returned (the callback can no longer run)."""
        self.cancel_idle_stop()
        return self._switch.abort(wait_s)

    def close(self) -> None:
        """Stop the stream, letting PortAudio play what it has queued (at most the
        output latency), then close it."""
        self.closing = True
        self.cancel_idle_stop()
        self._switch.close(stop=self.failure is None and self._switch.running)

    def _on_stream_ended_unexpectedly(self) -> None:
        if self.closing:
            return
        if self._switch.finished_by_us():  # the finished callback of our own stop
            return
        self.failure = AudioDeviceError(
            f"output device {self.device_name!r} stopped (disconnected or failed)")
        self._on_failure(self.failure)

    # ------------------------------------------------------- PortAudio threads

    def _on_stream_finished(self) -> None:
        """PortAudio thread: the stream stopped (closed by us, or the device failed)."""
        try:
            self._loop.call_soon_threadsafe(self._on_stream_ended_unexpectedly)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass
