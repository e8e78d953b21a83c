"""The speaker's PortAudio callback: each output block filled, placed in time, recorded.

:class:`OutputCallback` is what :class:`~.speaker.Speaker` hands PortAudio as its
stream's callback. For every block it pulls exactly the requested frames from the
jitter buffer, mixes the clips (earcons) over them, duplicates mono to the device's
channels, copies the block into the reference tap (echo cancellation) and records the
playback position; it tells the loop about the first and the last sample of a reply
with ``loop.call_soon_threadsafe``.

Threads: :meth:`OutputCallback.__call__` runs on the *PortAudio callback thread*. It
never blocks, logs or allocates arrays (channel duplication goes through a
preallocated buffer). The speaker (*loop thread*) constructs it, then writes only
plain attributes it reads: :attr:`~OutputCallback.reply_id`, :attr:`~OutputCallback.tap`,
:attr:`~OutputCallback.latency_s`, and :attr:`~OutputCallback.end_reported` once the
stream is stopped (the callback's side of the buffers is then the loop's).

The playback position. For every pull the callback writes one row into a small
preallocated ring (:class:`~.position.PlaybackPositions`) — (reply generation, samples
played before the block, real samples in it, when the block's first frame reaches the
DAC) — where the DAC time is ``time.monotonic()`` read in the callback plus PortAudio's
``outputBufferDacTime - currentTime`` (the stream's reported latency when the host API
gives no times). The loop thread reads the ring back: :meth:`Speaker.heard_frames
<voicebot.playback.speaker.Speaker.heard_frames>` (which reply sample reached the
listener at a given monotonic time) and ``Speaker.first_sound_at``.
"""

from __future__ import annotations

import asyncio
import time as _time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..capture.reference import ReferenceRing
from .jitter import JitterBuffer, PlaybackState
from .mixer import ClipMixer
from .position import PlaybackPositions

__all__ = ["OutputCallback"]

_ENDED = PlaybackState.ENDED

#: PortAudio's currentTime within this of time.monotonic(): the same clock.
_SAME_CLOCK_S = 0.05


class OutputCallback:
    """Fills a speaker's output blocks from ``jitter`` and ``clips`` (see the module doc).

    ``sample_rate``, ``channels`` and ``blocksize`` are the stream's. The callback
    reports a reply's first real sample as ``on_first_sample(generation, dac_delay_s,
    dac_time)`` and its end as ``on_reply_ended(reply_id, tail_s)`` (``tail_s``: how
    long until its last sample is heard), both called on ``loop``'s thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, jitter: JitterBuffer,
                 clips: ClipMixer, *, sample_rate: int, channels: int, blocksize: int,
                 on_first_sample: Callable[[int, float, float], None],
                 on_reply_ended: Callable[[int, float], None]) -> None:
        self._loop = loop
        self.jitter = jitter
        self.clips = clips
        self.sample_rate = sample_rate
        self.channels = channels
        self._on_first_sample = on_first_sample
        self._on_reply_ended = on_reply_ended
        # Mono scratch for multi-channel devices: pulled into, then broadcast to every
        # channel. PortAudio may ask for more than blocksize; the callback loops.
        self._scratch = np.zeros(max(4 * blocksize, 4096), np.float32)
        #: Written here (one row per pull), read by the loop.
        self.positions = PlaybackPositions()
        #: The stream's reported output latency: the DAC delay when the host API gives
        #: no times. Set by the speaker once the stream is open.
        self.latency_s = 0.0
        #: The loop's current reply. The callback compares it with the last reply it
        #: reported, so it reports each reply's first/last sample once.
        self.reply_id = 0
        #: The reference tap (echo cancellation): set by the loop, copied into here.
        self.tap: ReferenceRing | None = None
        # Callback thread only (but end_reported: see the module docstring).
        self._first_dac = 0.0
        self._last_dac = 0.0
        self._first_reported = 0
        self.end_reported = 0
        self.xruns = 0
        """Device-level output underflows PortAudio reported (not jitter underruns)."""

    def __call__(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio callback thread: fill ``outdata`` (frames × channels) exactly."""
        now = _time.monotonic()
        reply_id = self.reply_id
        jitter = self.jitter
        if status.output_underflow:
            self.xruns += 1
        # When this block's first frame reaches the DAC, from the times PortAudio
        # handed us (0 when the host API does not provide them).
        dac_time, current = time.outputBufferDacTime, time.currentTime
        dac_delay = dac_time - current
        no_times = dac_time <= 0 or current <= 0 or dac_delay < 0
        if no_times:
            dac_delay = self.latency_s
        if no_times or abs(now - current) > _SAME_CLOCK_S:  # or another clock than ours
            dac_time = now + dac_delay
        # Else PortAudio's own DAC time (ALSA: on time.monotonic's clock). It is exact to
        # ~6 us (std over a stream on PipeWire), while `now`, read 40-250 us after it
        # as the callback is scheduled, is late by a varying amount; a reply's echo
        # reference is placed by its first block's time, and an echo canceller that
        # learnt one reply's placement loses 20-30 dB of its echo when the next one is
        # placed a sample off (a reply after a barge-in interrupted itself that way).
        first_report = False
        if self.channels == 1:
            jitter.pull(outdata[:, 0])
            self.clips.mix_into(outdata[:, 0])
            first_report = self._record_position(dac_time)
        else:
            done = 0
            scratch = self._scratch
            while done < frames:
                m = min(frames - done, len(scratch))
                jitter.pull(scratch[:m])
                self.clips.mix_into(scratch[:m])
                outdata[done:done + m] = scratch[:m, None]
                first_report |= self._record_position(dac_time + done / self.sample_rate)
                done += m
        tap = self.tap
        if tap is not None:  # a copy into a preallocated ring: no allocation, no lock
            tap.record(outdata[:, 0], dac_time)
        end_report = self.end_reported != reply_id and jitter.state is _ENDED
        if not (first_report or end_report):
            return
        try:
            if first_report:
                self._loop.call_soon_threadsafe(self._on_first_sample, self._first_reported,
                                                dac_delay, self._first_dac)
            if end_report:
                self.end_reported = reply_id
                # The reply's last real sample is the last pull's (pulled_frames)th.
                tail_s = (self._last_dac - now) + jitter.pulled_frames / self.sample_rate
                self._loop.call_soon_threadsafe(self._on_reply_ended, reply_id, tail_s)
        except RuntimeError:  # loop closed while the stream still runs
            pass

    def _record_position(self, dac_time: float) -> bool:
        """Callback thread, after a pull: record what it delivered (no allocation).
        Returns whether it carried the reply's first sample (once per reply)."""
        jitter = self.jitter
        generation = jitter.pulled_generation
        before = jitter.pulled_before
        count = jitter.pulled_frames
        self.positions.record(generation, before, count, dac_time)
        self._last_dac = dac_time
        if before == 0 and count > 0 and self._first_reported != generation:
            self._first_reported = generation
            self._first_dac = dac_time
            return True
        return False
