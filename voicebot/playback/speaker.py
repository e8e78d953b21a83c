"""The speaker: streamed reply audio → resampler → jitter buffer → PortAudio output.

This is the I/O edge of playback. It only moves data: the decisions (prebuffering,
underrun fades, cancel) are in :mod:`.jitter`, which is pure. The device side (finding
the device, opening its stream, running it only around replies, telling a failure)
is :class:`~.outdevice.OutputDevice`; this module is the replies' side.

Threads:

- *Loop thread* (the asyncio loop given to :class:`Speaker`): every public method.
  :meth:`Speaker.push_pcm16` converts and resamples (``soxr.ResampleStream``, stateful,
  24 kHz → device rate) there, then pushes into the jitter buffer.
- *PortAudio callback thread*: the stream's callback, an :class:`~.outcallback.OutputCallback`,
  pulls exactly the requested frames from the jitter buffer. It never blocks, logs or
  allocates arrays; it tells the loop about the first and the last sample of a reply
  with ``loop.call_soon_threadsafe``.

The playback position: the callback records, for every block, which reply samples it
carried and when they reach the DAC (:mod:`.outcallback`); the loop thread reads that
back: :meth:`Speaker.heard_frames` (which reply sample reached the listener at a given
monotonic time) and :attr:`Speaker.first_sound_at`.
"""

from __future__ import annotations

import asyncio
import time as _time

import numpy as np
import soxr

from ..audio import API_SAMPLE_RATE
from ..audio.convert import pcm16_to_float
from ..errors import AudioDeviceError
from ..capture.reference import ReferenceRing
from .jitter import JitterBuffer, JitterPolicy, PlaybackState
from .mixer import ClipMixer
from .outcallback import OutputCallback
from .outdevice import OutputDevice, find_output
from .sinks import NullSink, Pcm16Joiner, Sink, WavSink

__all__ = ["Speaker", "Sink", "WavSink", "NullSink"]

_ENDED = PlaybackState.ENDED
_EMPTY = np.zeros(0, np.float32)
_CLIP_LEAD_IN_S = 0.1
# How long cancel() waits for the stream's abort (0.2-0.5 ms on PipeWire) before it
# leaves it to its thread: the cut's bookkeeping needs the callback stopped.
_CUT_WAIT_S = 0.1


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
        fmt = find_output(device, channels=channels, blocksize_ms=blocksize_ms)
        self.device_name: str = fmt.device_name
        self.sample_rate = fmt.sample_rate
        self.channels = fmt.channels
        self.blocksize = fmt.blocksize
        policy = (jitter_policy if jitter_policy is not None
                  else JitterPolicy(prebuffer_ms=prebuffer_ms))
        self.jitter = JitterBuffer(self.sample_rate, policy)
        self._resampler = (None if self.sample_rate == API_SAMPLE_RATE else
                           soxr.ResampleStream(API_SAMPLE_RATE, self.sample_rate, 1,
                                               dtype="float32", quality=resample_quality))
        self._joiner = Pcm16Joiner()

        # Reply bookkeeping (loop thread). _reply_id is published to the callback,
        # which reports each reply's first/last sample once.
        self._reply_id = 0
        self._reply_open = False
        self._ended: asyncio.Future[float] | None = None
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
        #: Short clips (earcons) mixed over the reply in the callback: :meth:`play_clip`.
        self.clips = ClipMixer()
        # What PortAudio calls for every block; it also keeps the playback positions.
        self._callback = OutputCallback(
            self._loop, self.jitter, self.clips, sample_rate=self.sample_rate,
            channels=self.channels, blocksize=self.blocksize,
            on_first_sample=self._on_first_sample, on_reply_ended=self._on_reply_ended)
        # The stream: opened here, then run around replies and clips.
        self._out = OutputDevice(
            self._loop, fmt, self._callback, latency=latency, linger_ms=linger_ms,
            drain_margin_ms=drain_margin_ms, idle=self._idle_since,
            busy=lambda: self.clips.active, on_failure=self._on_failure)

    def tap_reference(self, ring: ReferenceRing | None) -> None:
        """Copy every played block, with its DAC time, into ``ring`` (the reference of
        an echo canceller, read by the capture thread); None stops it. Loop thread.
        The ring must be made for :attr:`sample_rate`."""
        if ring is not None and ring.sample_rate != self.sample_rate:
            raise ValueError(f"reference ring at {ring.sample_rate} Hz, speaker at "
                             f"{self.sample_rate} Hz")
        self._callback.tap = ring

    # ------------------------------------------------------------------ loop thread

    def push_pcm16(self, pcm: bytes, now: float | None = None) -> None:
        """Queue a streamed audio delta (PCM16 LE mono 24 kHz bytes) for playing.

        ``now``: when the delta arrived (``time.monotonic()`` seconds; read here when
        not given): the adaptive jitter policy learns from arrival times. Loop thread.
        Starts a new reply if the last one was ended or cancelled (await
        :meth:`drained` before that, or the previous reply's unplayed tail is dropped).
        Raises :class:`AudioDeviceError` if the output stream has failed.
        """
        if self._out.failure is not None:
            raise self._out.failure
        if not self._reply_open:
            self._begin_reply()
            self._out.run()
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
        out = self._out
        if out.running and not out.closing and out.failure is None and not self.clips.active:
            self._cut()

    def _cut(self) -> None:
        """Abort the running stream at once (see :meth:`cancel`). Loop thread."""
        stopped = self._out.cut(_CUT_WAIT_S)
        cut_at = _time.monotonic()
        self._cut_at = (self._generation, cut_at)
        if stopped:  # else stuck on a dead device: the next start reports it
            # The callback can no longer run: its side of the buffers is the loop's now.
            self.jitter.stop_now()
            self._callback.end_reported = self._reply_id
            tap = self._callback.tap
            if tap is not None:
                tap.cut(cut_at)
        self._end_wait(0.0)  # nothing is left to hear

    async def drained(self) -> None:
        """Wait until the reply's last sample has left the callback, plus the output
        latency PortAudio reported for it and ``drain_margin_ms``, so it has reached
        the device.

        Call after :meth:`end_of_stream` or :meth:`cancel`. Loop thread. Raises
        :class:`AudioDeviceError` if the stream failed meanwhile.
        """
        if self._out.failure is not None:
            raise self._out.failure
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
        if self._out.closing:
            return
        try:
            self._out.close()
        finally:
            self._end_wait(0.0)

    @property
    def stream_closed(self) -> bool:
        """Whether the stream is closed: False before :meth:`close`, and after it while
        PortAudio is still stuck closing a stream whose sound server vanished."""
        return self._out.stream_closed

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
        self._callback.reply_id = self._reply_id

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
            self._out.schedule_idle_stop(reply_id, tail_s)

    def _idle_since(self, reply_id: int) -> bool:
        """Reply ``reply_id`` is still the last one, and it is over and played out."""
        return (reply_id == self._reply_id and not self._reply_open
                and self.jitter.state is _ENDED)

    def _on_failure(self, failure: AudioDeviceError) -> None:
        """The stream ended by itself: a waiter on the reply must not hang."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_exception(failure)
            self._ended.exception()  # retrieved here: nobody may be awaiting it

    def play_clip(self, samples: np.ndarray) -> None:
        """Play ``samples`` (float32 mono at :attr:`sample_rate`, e.g. an earcon) now,
        mixed over the reply if one plays. Loop thread. Starts the stream if it rests;
        it stops again after the clip, as after a reply. Raises
        :class:`AudioDeviceError` if the output stream has failed."""
        if self._out.failure is not None:
            raise self._out.failure
        if self._out.closing:
            return
        if not self._out.running:
            # A stream that starts loses its first few ms on PipeWire (measured: an
            # earcon played at start correlated 0.8 with itself, 1.0 on a running
            # stream): lead in with silence, as a reply's prebuffer does.
            lead = np.zeros(round(self.sample_rate * _CLIP_LEAD_IN_S), np.float32)
            samples = np.concatenate([lead, samples])
        self.clips.play(samples)
        self._out.run()
        if not self._reply_open and self.jitter.state is _ENDED:
            self._out.schedule_idle_stop(self._reply_id, len(samples) / self.sample_rate
                                         + self._out.latency_s)

    # ------------------------------------------------------------- the stream

    @property
    def running(self) -> bool:
        """Whether the output stream runs: a reply plays, or the linger after it."""
        return self._out.running

    @property
    def stream_starts(self) -> int:
        """How many times the stream was started for a reply (or a clip)."""
        return self._out.stream_starts

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
        reached = self._callback.positions.reached(self._generation, now, self.sample_rate)
        heard = int(reached * API_SAMPLE_RATE / self.sample_rate)
        return min(heard, self._api_frames_received)

    heard_frames = heard_samples  # the name issue 6 gave it

    @property
    def first_sound_at(self) -> float | None:
        """Monotonic time at which the current reply's first sample reached the DAC
        (``None`` until it has been played). Loop thread."""
        if self._first_sound_at is None:
            # The callback's report may still be on its way to the loop: the ring has it.
            self._first_sound_at = self._callback.positions.first_sound(self._generation)
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
    def xruns(self) -> int:
        """Device-level output underflows PortAudio reported (not jitter underruns)."""
        return self._callback.xruns

    @property
    def underruns(self) -> int:
        return self.jitter.underruns

    @property
    def output_latency_s(self) -> float:
        """The output latency PortAudio reported when the stream opened."""
        return self._out.latency_s
