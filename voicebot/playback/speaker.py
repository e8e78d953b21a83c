"""The speaker: streamed reply audio → resampler → jitter buffer → PortAudio output.

This is the I/O edge of playback. It only moves data: the decisions (prebuffering,
underrun fades, cancel) are in :mod:`.jitter`, which is pure.

Threads:

- *Loop thread* (the asyncio loop given to :class:`Speaker`): every public method.
  :meth:`Speaker.push_pcm16` converts and resamples (``soxr.ResampleStream``, stateful,
  24 kHz → device rate) there, then pushes into the jitter buffer.
- *PortAudio callback thread*: :meth:`Speaker._callback` pulls exactly the requested
  frames from the jitter buffer. It never blocks, logs or allocates arrays (channel
  duplication goes through a preallocated buffer); it tells the loop about the first
  and the last sample of a reply with ``loop.call_soon_threadsafe``.

The playback position. For every pull the callback writes one row into a small
preallocated ring — (reply generation, samples played before the block, real samples
in it, when the block's first frame reaches the DAC) — where the DAC time is
``time.monotonic()`` read in the callback plus PortAudio's ``outputBufferDacTime -
currentTime`` (the stream's reported latency when the host API gives no times). The
loop thread reads the ring back: :meth:`Speaker.heard_frames` (which reply sample
reached the listener at a given monotonic time) and :attr:`Speaker.first_sound_at`.
"""

from __future__ import annotations

import asyncio
import time as _time
from typing import Any

import numpy as np
import soxr

from ..audio import API_SAMPLE_RATE
from ..audio.convert import pcm16_to_float
from ..devices import sounddevice_module
from ..errors import AudioDeviceError
from ..capture.reference import ReferenceRing
from .jitter import JitterBuffer, JitterPolicy, PlaybackState
from .mixer import ClipMixer
from .outstream import OutputSwitch
from .position import PlaybackPositions
from .sinks import NullSink, Pcm16Joiner, Sink, WavSink

__all__ = ["Speaker", "Sink", "WavSink", "NullSink"]

_ENDED = PlaybackState.ENDED
_EMPTY = np.zeros(0, np.float32)
_CLIP_LEAD_IN_S = 0.1
# How long cancel() waits for the stream's abort (0.2-0.5 ms on PipeWire) before it
# leaves it to its thread: the cut's bookkeeping needs the callback stopped.
_CUT_WAIT_S = 0.1

#: PortAudio's currentTime within this of time.monotonic(): the same clock.
_SAME_CLOCK_S = 0.05


class Speaker:
    """Plays reply audio on an output device through a :class:`JitterBuffer`.

    ``device`` is a PortAudio device index, a name (substring) or ``None`` for the
    default output. The stream opens here, at the device's default sample rate, mono
    if the device takes mono (else its channels, each fed the same signal). Raises
    :class:`AudioDeviceError` naming the device if it cannot be opened. Create and
    use it on the loop thread (``loop`` defaults to the running loop). Implements
    :class:`Sink`.

    The stream runs only while there is something to play: a reply's first push
    starts it, and it is stopped ``linger_ms`` after a reply's last sample has
    reached the device (an open stream playing silence cost ~1.3 % of a core on
    PipeWire, a quarter of the whole idle process). Starting costs little: on
    PipeWire ``start()`` returns in 0.2 ms and the first callback follows 10–20 ms
    later, while the jitter buffer is still prebuffering (``scripts/bench_idle.py``
    measures it). The linger keeps the stream through back-to-back replies.

    ``latency`` is PortAudio's suggested output latency: the device buffer that
    rides out late callbacks (the callback needs the GIL, which the loop thread may
    hold for a few ms). "high" by default (PipeWire's ALSA device: 35 ms asked, 40 ms
    reported by the open stream): with "low" (9 ms) a 20 ms gap was heard in 2 of 25
    runs of the speaker tests, PortAudio reporting an underflow. The jitter buffer's
    prebuffer is for network jitter.

    ``jitter_policy`` decides when a reply starts playing; by default the adaptive
    policy with ``prebuffer_ms`` as the most it waits at the start of a reply
    (``JitterPolicy.fixed(prebuffer_ms)`` for the old fixed prebuffer).
    """

    def __init__(self, device: int | str | None = None, *, prebuffer_ms: float = 120.0,
                 loop: asyncio.AbstractEventLoop | None = None, blocksize_ms: float = 10.0,
                 latency: float | str = "high", channels: int | None = None,
                 resample_quality: str = "HQ", drain_margin_ms: float = 50.0,
                 jitter_policy: JitterPolicy | None = None,
                 linger_ms: float = 1000.0) -> None:
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        sd = sounddevice_module()
        name = "default output device" if device is None else f"output device {device!r}"
        try:
            info = sd.query_devices(device, "output")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(f"{name}: {exc}") from None
        if info["max_output_channels"] < 1:
            raise AudioDeviceError(f"{name}: has no output channels")
        self.device_name: str = info["name"]
        self.sample_rate = int(info["default_samplerate"])
        self.channels = channels or self._pick_channels(sd, device, info)
        self.blocksize = max(1, round(self.sample_rate * blocksize_ms / 1000.0))
        policy = (jitter_policy if jitter_policy is not None
                  else JitterPolicy(prebuffer_ms=prebuffer_ms))
        self.jitter = JitterBuffer(self.sample_rate, policy)
        self._resampler = (None if self.sample_rate == API_SAMPLE_RATE else
                           soxr.ResampleStream(API_SAMPLE_RATE, self.sample_rate, 1,
                                               dtype="float32", quality=resample_quality))
        self._joiner = Pcm16Joiner()
        # Mono scratch for multi-channel devices: pulled into, then broadcast to every
        # channel. PortAudio may ask for more than blocksize; the callback loops.
        self._scratch = np.zeros(max(4 * self.blocksize, 4096), np.float32)

        # Reply bookkeeping (loop thread). The callback compares _reply_id with the
        # last reply it reported, so it reports each reply's first/last sample once.
        self._reply_id = 0
        self._reply_open = False
        self._ended: asyncio.Future[float] | None = None
        self._failure: AudioDeviceError | None = None
        self._closing = False
        self._drain_margin_s = drain_margin_ms / 1000.0
        self._cut_at: tuple[int, float] = (-1, 0.0)  # (generation, time) of the last cut
        self.first_push_at: float | None = None
        """Loop time of this reply's first :meth:`push_pcm16`."""
        self.first_sample_played_at: float | None = None
        """Loop time when the callback that carried the reply's first real sample
        reported it (the sample left the callback; add ``first_sample_dac_delay`` for
        when it reaches the DAC)."""
        self.first_sample_dac_delay: float | None = None
        self._first_sound_at: float | None = None
        self._api_frames_received = 0
        self._generation = self.jitter.generation
        # Written by the callback (one row per pull), read here.
        self._positions = PlaybackPositions()
        #: Short clips (earcons) mixed over the reply in the callback: :meth:`play_clip`.
        self.clips = ClipMixer()
        # Callback thread only.
        self._cb_first_dac = 0.0
        self._cb_last_dac = 0.0
        self._cb_first_reported = 0
        self._cb_end_reported = 0
        self.xruns = 0
        """Device-level output underflows PortAudio reported (not jitter underruns)."""

        try:
            self._stream = sd.OutputStream(
                device=device, samplerate=self.sample_rate, channels=self.channels,
                dtype="float32", blocksize=self.blocksize, latency=latency,
                callback=self._callback, finished_callback=self._on_stream_finished)
            self._latency_s = float(self._stream.latency)
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(f"{name}: cannot open for output at "
                                   f"{self.sample_rate} Hz ({exc})") from None
        # Stream lifecycle (loop thread): started for a reply, stopped when idle.
        self._switch = OutputSwitch(self._stream, sd.PortAudioError, self.device_name)
        self._linger_s = linger_ms / 1000.0
        self._idle_stop: asyncio.TimerHandle | None = None
        # The reference tap (echo cancellation): set by tap_reference, read by the callback.
        self._tap: ReferenceRing | None = None
        try:
            self._switch.rest_at_once()
        except sd.PortAudioError as exc:
            self._stream.close(ignore_errors=True)
            raise AudioDeviceError(f"{name}: cannot start output ({exc})") from None

    def tap_reference(self, ring: ReferenceRing | None) -> None:
        """Copy every played block, with its DAC time, into ``ring`` (the reference of
        an echo canceller, read by the capture thread); None stops it. Loop thread.
        The ring must be made for :attr:`sample_rate`."""
        if ring is not None and ring.sample_rate != self.sample_rate:
            raise ValueError(f"reference ring at {ring.sample_rate} Hz, speaker at "
                             f"{self.sample_rate} Hz")
        self._tap = ring

    @staticmethod
    def _pick_channels(sd: Any, device: int | str | None, info: dict[str, Any]) -> int:
        for channels in (1, 2):
            try:
                sd.check_output_settings(device=device, channels=channels, dtype="float32",
                                         samplerate=info["default_samplerate"])
                return channels
            except (ValueError, sd.PortAudioError):
                continue
        return int(info["max_output_channels"])

    # ------------------------------------------------------------------ loop thread

    def push_pcm16(self, pcm: bytes, now: float | None = None) -> None:
        """Queue a streamed audio delta (PCM16 LE mono 24 kHz bytes) for playing.

        ``now``: when the delta arrived (``time.monotonic()`` seconds; read here when
        not given): the adaptive jitter policy learns from arrival times. Loop thread.
        Starts a new reply if the last one was ended or cancelled (await
        :meth:`drained` before that, or the previous reply's unplayed tail is dropped).
        Raises :class:`AudioDeviceError` if the output stream has failed.
        """
        if self._failure is not None:
            raise self._failure
        if not self._reply_open:
            self._begin_reply()
            self._run_stream()
        whole = self._joiner.whole(pcm)
        if not whole:
            return
        if self.first_push_at is None:
            self.first_push_at = self._loop.time()
        self._api_frames_received += len(whole) // 2
        samples = pcm16_to_float(whole)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self.jitter.push(samples, now=_time.monotonic() if now is None else now)

    def end_of_stream(self) -> None:
        """The reply's audio is complete: flush the resampler and play the tail now.
        Loop thread."""
        if not self._reply_open:
            # Already ended or cancelled (or no audio at all): nothing to flush, and
            # starting an empty reply here would cut a cancel fade short.
            return
        if self._resampler is not None:
            self.jitter.push(self._resampler.resample_chunk(_EMPTY, last=True))
        self._joiner.reset()
        self.jitter.end_of_stream()
        self._reply_open = False

    def cancel(self) -> None:
        """Silence the current reply now and drop the rest. Loop thread. Stop pushing
        this reply's audio: the next push starts a new reply.

        The stream is aborted, which drops what PortAudio and the sound server have
        queued: on PipeWire the speaker is silent 1-5 ms after the call, against
        50 ms when the callback stops feeding it (the output latency, "high") plus
        the fade. A user who talks over a reply is answered that much sooner. The
        price is a click where the reply is cut. While a clip (an earcon) is mixed
        over the reply, the reply fades out within 20 ms instead and the clip plays
        on. What the tap recorded beyond the cut is marked unplayed
        (:meth:`ReferenceRing.cut`), and the playback position stops at it."""
        if self._reply_open or self.jitter.state is not _ENDED:
            self.jitter.cancel()
        self._reply_open = False
        if (self._switch.running and not self._closing and self._failure is None
                and not self.clips.active):
            self._cut()

    def _cut(self) -> None:
        """Abort the running stream at once (see :meth:`cancel`). Loop thread."""
        self._cancel_idle_stop()
        stopped = self._switch.abort(_CUT_WAIT_S)
        cut_at = _time.monotonic()
        self._cut_at = (self._generation, cut_at)
        if stopped:  # else stuck on a dead device: the next start reports it
            # The callback can no longer run: its side of the buffers is the loop's now.
            self.jitter.stop_now()
            self._cb_end_reported = self._reply_id
            if self._tap is not None:
                self._tap.cut(cut_at)
        self._end_wait(0.0)  # nothing is left to hear

    async def drained(self) -> None:
        """Wait until the reply's last sample has left the callback, plus the output
        latency PortAudio reported for it and ``drain_margin_ms``, so it has reached
        the device.

        Call after :meth:`end_of_stream` or :meth:`cancel`. Loop thread. Raises
        :class:`AudioDeviceError` if the stream failed meanwhile.
        """
        if self._failure is not None:
            raise self._failure
        if self._ended is None:
            return
        tail_s = await asyncio.shield(self._ended)
        if tail_s > 0:
            # One wait for the known device latency, not a polling loop. The margin is
            # there because the latency a host API reports can be short of the truth:
            # PipeWire's ALSA plugin reports ~20 ms while a graph period more can
            # still be queued (seen: the last 20 ms of a reply cut off on close).
            await asyncio.sleep(tail_s + self._drain_margin_s)

    def close(self) -> None:
        """Stop the stream, letting PortAudio play what it has queued (at most the
        output latency), then close it. Loop thread; idempotent. Await
        :meth:`drained` first to play the reply's tail: closing while a reply plays
        cuts it there."""
        if self._closing:
            return
        self._closing = True
        self._cancel_idle_stop()
        try:
            self._switch.close(stop=self._failure is None and self._switch.running)
        finally:
            self._end_wait(0.0)

    @property
    def stream_closed(self) -> bool:
        """Whether the stream is closed: False before :meth:`close`, and after it while
        PortAudio is still stuck closing a stream whose sound server vanished."""
        return self._closing and self._switch.released

    async def __aenter__(self) -> Speaker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _begin_reply(self) -> None:
        # Reset the buffer before publishing the new id: a callback that sees the new
        # id then also sees the empty buffer, never the previous reply's end.
        self.jitter.reset()
        self._generation = self.jitter.generation
        self._first_sound_at = None
        self._api_frames_received = 0
        if self._resampler is not None:
            self._resampler.clear()
        self._joiner.reset()
        self._end_wait(0.0)  # a waiter on the replaced reply must not hang
        self._ended = self._loop.create_future()
        self.first_push_at = None
        self.first_sample_played_at = None
        self.first_sample_dac_delay = None
        self._reply_open = True
        self._reply_id += 1

    def _on_first_sample(self, generation: int, dac_delay_s: float, dac_time: float) -> None:
        if generation == self._generation and self.first_sample_played_at is None:
            self.first_sample_played_at = self._loop.time()
            self.first_sample_dac_delay = dac_delay_s
            self._first_sound_at = dac_time

    def _end_wait(self, tail_s: float) -> None:
        """Release :meth:`drained`'s wait for this reply (once): ``tail_s`` more to hear."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(tail_s)

    def _on_reply_ended(self, reply_id: int, tail_s: float) -> None:
        if reply_id == self._reply_id:
            self._end_wait(tail_s)
            self._schedule_idle_stop(reply_id, tail_s)

    def _on_stream_ended_unexpectedly(self) -> None:
        if self._closing:
            return
        if self._switch.finished_by_us():  # the finished callback of our own stop
            return
        self._failure = AudioDeviceError(
            f"output device {self.device_name!r} stopped (disconnected or failed)")
        if self._ended is not None and not self._ended.done():
            self._ended.set_exception(self._failure)
            self._ended.exception()  # retrieved here: nobody may be awaiting it

    def play_clip(self, samples: np.ndarray) -> None:
        """Play ``samples`` (float32 mono at :attr:`sample_rate`, e.g. an earcon) now,
        mixed over the reply if one plays. Loop thread. Starts the stream if it rests;
        it stops again after the clip, as after a reply. Raises
        :class:`AudioDeviceError` if the output stream has failed."""
        if self._failure is not None:
            raise self._failure
        if self._closing:
            return
        if not self._switch.running:
            # A stream that starts loses its first few ms on PipeWire (measured: an
            # earcon played at start correlated 0.8 with itself, 1.0 on a running
            # stream): lead in with silence, as a reply's prebuffer does.
            lead = np.zeros(round(self.sample_rate * _CLIP_LEAD_IN_S), np.float32)
            samples = np.concatenate([lead, samples])
        self.clips.play(samples)
        self._run_stream()
        if not self._reply_open and self.jitter.state is _ENDED:
            self._schedule_idle_stop(self._reply_id, len(samples) / self.sample_rate
                                     + self._latency_s)

    # ------------------------------------------------- stream lifecycle (loop thread)

    @property
    def running(self) -> bool:
        """Whether the output stream runs: a reply plays, or the linger after it."""
        return self._switch.running

    @property
    def stream_starts(self) -> int:
        """How many times the stream was started for a reply (or a clip)."""
        return self._switch.starts

    def _run_stream(self) -> None:
        """A reply begins: make sure the stream runs (and stays running)."""
        self._cancel_idle_stop()
        if self._closing:
            return
        try:
            self._switch.start()
        except AudioDeviceError as exc:
            self._failure = exc
            raise

    def _schedule_idle_stop(self, reply_id: int, tail_s: float) -> None:
        """The reply's last sample left the callback: stop once it has been heard
        (``tail_s`` + the drain margin, as :meth:`drained` waits) and the linger is over."""
        self._cancel_idle_stop()
        delay_s = max(0.0, tail_s) + self._drain_margin_s + self._linger_s
        self._idle_stop = self._loop.call_later(delay_s, self._stop_if_idle, reply_id)

    def _cancel_idle_stop(self) -> None:
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None

    def _stop_if_idle(self, reply_id: int) -> None:
        self._idle_stop = None
        idle = (reply_id == self._reply_id and not self._reply_open
                and self.jitter.state is _ENDED)
        if not idle or not self._switch.running or self._closing or self._failure is not None:
            return
        if self.clips.active:  # a clip still plays: look again once it can have ended
            self._schedule_idle_stop(reply_id, 0.05)
            return
        # abort, not stop: what is still queued is silence (the tail was heard), and
        # abort returns at once (0.2 ms on PipeWire; stop waits for the buffer).
        self._switch.abort(0.0)

    # ------------------------------------------------------- PortAudio threads

    def _on_stream_finished(self) -> None:
        """PortAudio thread: the stream stopped (closed by us, or the device failed)."""
        try:
            self._loop.call_soon_threadsafe(self._on_stream_ended_unexpectedly)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio callback thread: fill ``outdata`` (frames × channels) exactly."""
        now = _time.monotonic()
        reply_id = self._reply_id
        jitter = self.jitter
        if status.output_underflow:
            self.xruns += 1
        # When this block's first frame reaches the DAC, from the times PortAudio
        # handed us (0 when the host API does not provide them).
        dac_time, current = time.outputBufferDacTime, time.currentTime
        dac_delay = dac_time - current
        no_times = dac_time <= 0 or current <= 0 or dac_delay < 0
        if no_times:
            dac_delay = self._latency_s
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
        tap = self._tap
        if tap is not None:  # a copy into a preallocated ring: no allocation, no lock
            tap.record(outdata[:, 0], dac_time)
        end_report = self._cb_end_reported != reply_id and jitter.state is _ENDED
        if not (first_report or end_report):
            return
        try:
            if first_report:
                self._loop.call_soon_threadsafe(self._on_first_sample, self._cb_first_reported,
                                                dac_delay, self._cb_first_dac)
            if end_report:
                self._cb_end_reported = reply_id
                # The reply's last real sample is the last pull's (pulled_frames)th.
                tail_s = (self._cb_last_dac - now) + jitter.pulled_frames / self.sample_rate
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
        self._positions.record(generation, before, count, dac_time)
        self._cb_last_dac = dac_time
        if before == 0 and count > 0 and self._cb_first_reported != generation:
            self._cb_first_reported = generation
            self._cb_first_dac = dac_time
            return True
        return False

    # ------------------------------------------------------ playback position

    audible = True

    def heard_samples(self, now: float) -> int:
        """How many samples of the current reply (at the API's 24 kHz, as pushed) had
        reached the DAC at monotonic time ``now`` (``time.monotonic()`` seconds): 0
        before its first sample, never more than were pushed; within a block,
        interpolated at the device rate; a gap holds it still. Loop thread."""
        cut_generation, cut_at = self._cut_at
        if cut_generation == self._generation:  # nothing was heard after the cut
            now = min(now, cut_at)
        reached = self._positions.reached(self._generation, now, self.sample_rate)
        heard = int(reached * API_SAMPLE_RATE / self.sample_rate)
        return min(heard, self._api_frames_received)

    heard_frames = heard_samples  # the name issue 6 gave it

    @property
    def first_sound_at(self) -> float | None:
        """Monotonic time at which the current reply's first sample reached the DAC
        (``None`` until it has been played). Loop thread."""
        if self._first_sound_at is None:
            # The callback's report may still be on its way to the loop: the ring has it.
            self._first_sound_at = self._positions.first_sound(self._generation)
        return self._first_sound_at

    # ----------------------------------------------------------------- counters

    @property
    def frames_received(self) -> int:
        """Frames of this reply queued, at :attr:`sample_rate` (after resampling)."""
        return self.jitter.frames_pushed

    @property
    def frames_played(self) -> int:
        """Real frames of this reply that have left the callback, at :attr:`sample_rate`."""
        return self.jitter.frames_played

    @property
    def underruns(self) -> int:
        return self.jitter.underruns

    @property
    def output_latency_s(self) -> float:
        """The output latency PortAudio reported when the stream opened."""
        return self._latency_s
