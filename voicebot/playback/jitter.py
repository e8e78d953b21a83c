"""A jitter buffer between streamed reply audio and an audio output callback.

Pure logic: no I/O, no clock, no sleeping. Samples go in with :meth:`JitterBuffer.push`
(float32 mono, already at the output device's rate) and come out with
:meth:`JitterBuffer.pull`, which fills exactly the requested number of frames.

Behaviour, in output frames:

- **Prebuffer.** Nothing plays (silence comes out) until the policy's targets are met
  — a level to hold, or (adaptive) a time the output has waited since the reply's
  audio came, counted in the silence it played — or until :meth:`end_of_stream` says
  no more is coming, so a short reply plays at once. The policy is a
  :class:`~.jitterpolicy.JitterPolicy`: fixed, or adaptive (learned from the arrival
  times passed to :meth:`push`; see :mod:`.jitterpolicy`).
- **Underrun.** While playing, the buffer keeps ``fade_ms`` of samples in reserve. When
  a pull would leave less than that, the block ends with a fade-out (over the last
  ``fade_ms`` of real samples) to silence instead of a click; the underrun is counted
  and the buffer waits for the policy's target after an underrun before it resumes
  with a fade-in.
- **End of stream.** After :meth:`end_of_stream` the whole tail plays unfaded, then
  :attr:`state` becomes ``ENDED`` and :attr:`finished` is true.
- **Cancel.** :meth:`cancel` fades out over ``cancel_fade_ms`` (≤ 20 ms) of output,
  then silence; everything still buffered is dropped.

Fades multiply real samples by gains strictly between 0 and 1 (never exactly 0), so a
real sample is never replaced by silence; ``frames_played`` counts faded samples too.

Threads. Exactly one *producer* thread (the asyncio loop: :meth:`push`,
:meth:`end_of_stream`, :meth:`cancel`, :meth:`reset`) and one *consumer* thread (the
PortAudio callback: :meth:`pull`). The samples wait in a single-producer/single-consumer
ring (:class:`~.jitterring.SampleRing`, the buffer's base): the producer copies into it
outside the lock and takes the lock only to publish the new write position. :meth:`pull`
holds the lock for its whole run, which is a few index operations and a copy of one
callback's worth of frames (microseconds); the producer never holds the lock while
doing work of unbounded size (copying a push, growing the ring, updating the policy's
targets, which it publishes with the write position), so the callback never waits on
it. A lock (rather than relying on the GIL's atomic attribute stores) keeps the
cross-thread commands — cancel, reset, end of stream — consistent with the indices in
one step, and is correct on free-threaded Python too.
"""

from __future__ import annotations

import enum

import numpy as np

from .jitterpolicy import JitterPolicy, TargetEstimator
from .jitterring import FadeRamp, SampleRing, copy_positions

__all__ = ["JitterBuffer", "JitterPolicy", "PlaybackState"]


class PlaybackState(str, enum.Enum):
    """Where a reply is. ``str`` values so they print and compare as words."""

    WAITING = "waiting"    # prebuffering (at the start or after an underrun): silence out
    PLAYING = "playing"    # delivering samples; more may come
    DRAINING = "draining"  # end of stream signalled, or cancelling: playing the rest / fading
    ENDED = "ended"        # everything played (or cancelled): silence out


_WAITING = PlaybackState.WAITING
_PLAYING = PlaybackState.PLAYING
_DRAINING = PlaybackState.DRAINING
_ENDED = PlaybackState.ENDED

#: Cancel must reach silence within this much output.
MAX_CANCEL_FADE_MS = 20.0


def _ms_to_frames(ms: float, sample_rate: int) -> int:
    return int(round(ms * sample_rate / 1000.0))


class JitterBuffer(SampleRing):
    """Buffers one reply's samples between a producer and an output callback.

    ``sample_rate`` is the output rate (it only converts the ``*_ms`` options to
    frames). ``policy`` decides how much to buffer before playing (default: adaptive;
    :meth:`JitterPolicy.fixed` for a fixed prebuffer). Create it on any thread; then
    follow the thread rules in the module docstring. Use :meth:`reset` before each
    new reply.
    """

    def __init__(self, sample_rate: int, policy: JitterPolicy | None = None, *,
                 fade_ms: float = 3.0, cancel_fade_ms: float = 10.0,
                 capacity_ms: float = 2000.0) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if not 0.0 <= cancel_fade_ms <= MAX_CANCEL_FADE_MS:
            raise ValueError(f"cancel_fade_ms must be within 0..{MAX_CANCEL_FADE_MS}")
        if fade_ms < 0:
            raise ValueError("fade_ms must not be negative")
        self.sample_rate = sample_rate
        self.policy = policy if policy is not None else JitterPolicy()
        # Producer thread only: turns arrival times into targets.
        self._estimator = TargetEstimator(self.policy, sample_rate)
        self.fade_frames = _ms_to_frames(fade_ms, sample_rate)
        self.cancel_fade_frames = _ms_to_frames(cancel_fade_ms, sample_rate)

        super().__init__(_ms_to_frames(capacity_ms, sample_rate))  # the ring, the lock
        self._fade = FadeRamp(max(self.fade_frames, self.cancel_fade_frames, 1))

        # Producer side (written on the producer thread; published under the lock).
        # The targets (frames to hold before starting, and before resuming after an
        # underrun) are the producer's, published with the write position.
        self._targets = self._estimator.targets()
        self._eos = False
        self._cancel_requested = False
        self._frames_pushed = 0
        self._frames_dropped = 0
        # Consumer side (only touched under the lock), beside the ring's read position.
        self._state = _WAITING
        self._fade_in_done = self.fade_frames  # no fade-in at the very start of a reply
        self._cancel_len = 0
        self._cancel_done = 0
        self._cancelled = False
        self._frames_played = 0
        self._underruns = 0
        self._waited = 0
        # What the last pull delivered (consumer thread, for the output edge's
        # position records): the reply it served, its samples played before, and the
        # real samples it delivered (at the start of the block, silence after them).
        self._generation = 0
        self.pulled_generation = 0
        self.pulled_before = 0
        self.pulled_frames = 0

    # ----------------------------------------------------------- producer thread

    def push(self, samples: np.ndarray, now: float | None = None) -> None:
        """Append float32 mono samples (at the output rate) that arrived at ``now``
        (monotonic seconds). Producer thread only.

        The adaptive policy learns from ``now``; without it (``None``) the target
        stays what it was. Grows the ring (allocating here, never in :meth:`pull`)
        when the samples do not fit. Samples pushed after :meth:`end_of_stream` or
        :meth:`cancel` are dropped (counted in :attr:`frames_dropped`) until :meth:`reset`.
        """
        n = len(samples)
        if n == 0:
            return
        if self._eos or self._cancel_requested:
            self._frames_dropped += n
            return
        estimator = self._estimator
        if now is not None:
            estimator.on_push(now, self._frames_pushed, n)
        write = self._write_pos
        self._store(samples, write)
        targets = estimator.targets()
        with self._lock:
            self._write_pos = write + n
            self._frames_pushed += n
            self._targets = targets

    def end_of_stream(self) -> None:
        """No more samples for this reply: play what is buffered now, without
        waiting for the prebuffer. Producer thread."""
        with self._lock:
            self._eos = True

    def cancel(self) -> None:
        """Stop this reply: fade out within ``cancel_fade_ms`` of output, then silence.

        Producer thread. Everything buffered beyond the fade is dropped; later pushes
        are dropped until :meth:`reset`.
        """
        with self._lock:
            if self._cancel_requested:
                return
            self._cancel_requested = True
            # Keep only what the fade-out needs; the consumer ends the reply after it.
            self._write_pos = min(self._write_pos, self._read_pos + self.cancel_fade_frames)

    def stop_now(self) -> None:
        """End this reply where the consumer left it, without the fade: the consumer
        has stopped for good (its audio stream was aborted, dropping what it had
        queued), so nothing more of the reply is pulled. State ``ENDED``, cancelled;
        counters and the generation are kept (the reply's position stays readable).
        Producer thread, only while no consumer pulls."""
        with self._lock:
            self._cancel_requested = True
            self._cancelled = True
            self._read_pos = self._write_pos
            self._cancel_len = 0
            self._state = _ENDED

    def reset(self) -> None:
        """Drop everything and get ready for the next reply (state ``WAITING``,
        counters at zero). Producer thread; the ring keeps its grown capacity."""
        with self._lock:
            self._generation += 1
            self._read_pos = self._write_pos
            self._eos = False
            self._cancel_requested = False
            self._frames_pushed = 0
            self._frames_dropped = 0
            self._state = _WAITING
            self._estimator.begin_reply()
            self._targets = self._estimator.targets()
            self._waited = 0
            self._fade_in_done = self.fade_frames
            self._cancel_len = 0
            self._cancel_done = 0
            self._cancelled = False
            self._frames_played = 0
            self._underruns = 0

    # ----------------------------------------------------------- consumer thread

    def pull(self, out: np.ndarray) -> None:
        """Fill all of ``out`` (1-D float32, may be a strided view) in place.

        Consumer (audio callback) thread. Never blocks on producer work, never
        allocates arrays: it copies ring slices into ``out`` and applies fades with
        preallocated gain buffers. Afterwards :attr:`pulled_generation`,
        :attr:`pulled_before` and :attr:`pulled_frames` say what this pull delivered
        (real samples always come first in ``out``, silence after them).
        """
        with self._lock:
            before = self._frames_played
            self._pull_locked(out)
            self.pulled_generation = self._generation
            self.pulled_before = before
            self.pulled_frames = self._frames_played - before

    def _pull_locked(self, out: np.ndarray) -> None:
        """:meth:`pull`'s work, under the lock."""
        n = len(out)
        ring = self._ring
        avail = self._write_pos - self._read_pos
        if self._cancel_requested and not self._cancelled:
            self._start_cancel(avail)
        state = self._state
        if state is _ENDED:
            out[:] = 0.0
            return
        if self._cancel_len:
            self._pull_cancel(ring, out, avail)
            return
        if state is _WAITING:
            if self._eos:
                state = _DRAINING if avail > 0 else _ENDED
            else:
                if avail and not self._waited and not self._frames_played:
                    # The reply's first audio came during the last block: half
                    # of one ago, on average. From here _waited counts the output
                    # since then that was not this reply's samples (the lag of
                    # playback behind arrival: start delay + gaps).
                    self._waited = max(1, n // 2)
                if not self._ready(avail, n):
                    out[:] = 0.0
                    if self._waited:
                        self._waited += n
                    return
                state = _PLAYING
            self._state = state
        elif state is _PLAYING and self._eos:
            state = self._state = _DRAINING

        if state is _DRAINING:
            m = min(n, avail)
            self._copy_out(ring, out[:m])
            out[m:] = 0.0
            if m == avail:
                self._state = _ENDED
            return
        if state is _ENDED:  # end of stream with nothing buffered
            out[:] = 0.0
            return
        # PLAYING, more to come: keep fade_frames in reserve for an underrun fade.
        if avail - self.fade_frames >= n:
            self._copy_out(ring, out)
            return
        m = min(n, avail)
        self._copy_out(ring, out[:m])
        k = min(self.fade_frames, m)
        if k:
            self._fade.apply(out[m - k:m], 0, k, rising=False)
        out[m:] = 0.0
        self._waited += n - m
        self._underruns += 1
        self._state = _WAITING
        self._fade_in_done = 0

    def _ready(self, avail: int, n: int) -> bool:
        """Whether to (re)start playing with a pull of ``n``. Under the lock.

        The policy's targets: hold ``level`` frames, or have waited ``offset`` frames
        of output (silence) since this reply's audio came (the output's own clock: the
        consumer reads no other). Adaptive targets are times to ride out, on top of
        what this pull and the fade reserve take; a fixed prebuffer is a level."""
        reserve = self.fade_frames + n  # the first pull must not underrun at once
        if avail < reserve:
            return False
        t = self._targets
        if self._underruns:
            level, offset = t.resume_level, t.resume_offset
        else:
            level, offset = t.start_level, t.start_offset
        if not t.headroom:
            return avail >= level
        return avail >= level + reserve or self._waited >= offset + reserve

    def _copy_out(self, ring: np.ndarray, dest: np.ndarray) -> None:
        """Move ``len(dest)`` samples from the read position into ``dest`` (under the
        lock), applying any pending fade-in."""
        m = len(dest)
        if m == 0:
            return
        copy_positions(ring, self._read_pos, m, dest, 0)
        self._read_pos += m
        self._frames_played += m
        done = self._fade_in_done
        if done < self.fade_frames:
            k = min(m, self.fade_frames - done)
            self._fade.apply(dest[:k], done, self.fade_frames, rising=True)
            self._fade_in_done = done + k

    def _start_cancel(self, avail: int) -> None:
        self._cancelled = True
        if self._state is _PLAYING or self._state is _DRAINING:
            self._cancel_len = min(self.cancel_fade_frames, avail)
            self._state = _DRAINING
        if not self._cancel_len:
            self._read_pos = self._write_pos
            self._state = _ENDED

    def _pull_cancel(self, ring: np.ndarray, out: np.ndarray, avail: int) -> None:
        done = self._cancel_done
        m = min(len(out), self._cancel_len - done, avail)
        copy_positions(ring, self._read_pos, m, out, 0)
        self._fade.apply(out[:m], done, self._cancel_len, rising=False)
        out[m:] = 0.0
        self._read_pos += m
        self._frames_played += m
        self._cancel_done = done + m
        if self._cancel_done >= self._cancel_len or m == avail:
            self._read_pos = self._write_pos
            self._cancel_len = 0
            self._state = _ENDED

    # ----------------------------------------------------------- any thread (reads)

    @property
    def state(self) -> PlaybackState:
        return self._state

    @property
    def generation(self) -> int:
        """Which reply this is: :meth:`reset` adds one (compare with
        :attr:`pulled_generation`)."""
        return self._generation

    @property
    def underruns(self) -> int:
        """Underruns in this reply (each one a fade-out and a re-prebuffer)."""
        return self._underruns

    @property
    def frames_pushed(self) -> int:
        """Samples accepted by :meth:`push` in this reply."""
        return self._frames_pushed

    @property
    def frames_dropped(self) -> int:
        """Samples refused because they came after end of stream or cancel."""
        return self._frames_dropped

    @property
    def frames_played(self) -> int:
        """Real samples delivered by :meth:`pull` (faded ones included, silence not)."""
        return self._frames_played

    @property
    def cancelled(self) -> bool:
        """:meth:`cancel` was called in this reply."""
        return self._cancel_requested

    @property
    def finished(self) -> bool:
        """End of stream was signalled and every pushed sample has been played."""
        return (self._eos and not self._cancel_requested and self._state is _ENDED
                and self._frames_played == self._frames_pushed)
