"""Echo cancellation as a capture stage, fed by a reference tap.

::

    speaker callback ──record──▶ ReferenceRing ──┐  (the tap: copy + DAC time, nothing else)
                                                 ▼
    capture thread, per block:  EchoStage.process(pcm16_16k, at)
        1. drain the reference source(s) into the canceller (SpeakerReference:
           resampled to 16 kHz with soxr, here, not in the callback)
        2. EchoCanceller.process(block, steady capture time) → the VAD and segmenter

The stage is not speaker code: a :class:`ReferenceSource` is anything that can say
what was played and when it reached the listener. The bridge's sources will push
what was sent to its client straight into :meth:`EchoCanceller.push_reference`
(thread-safe) and need no source here.

While nothing plays, a block costs one integer comparison (the ring has nothing
new) and the canceller's pass-through check: echo cancellation runs only while a
reference plays and for its echo's tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import soxr

from ..audio import VAD_SAMPLE_RATE
from ..audio.convert import float_to_pcm16
from .aec import EchoCanceller
from .reference import ReferenceRing, ReferenceRun, SteadyCaptureTimes

__all__ = ["EchoStage", "ReferenceSource", "SpeakerReference"]

#: Frames described when speech starts over a reply: the speech trigger's span (4 of 5
#: 30 ms VAD frames) and a little before it.
_DESCRIBED_FRAMES = 12

PushReference = Callable[[bytes, float], None]


class ReferenceSource(Protocol):
    """Something that knows what was played: drained by the capture thread."""

    def drain(self, push: PushReference) -> None:
        """Hand everything played since the last drain to ``push(pcm16_16k, at)``,
        ``at`` the DAC (listener) time of its first sample. Capture thread."""


class SpeakerReference:
    """The reader side of a speaker's :class:`ReferenceRing`: 16 kHz PCM16 runs.

    The ring holds float32 at the speaker's rate; a stateful soxr stream brings
    each run to 16 kHz (its output sample k lines up with input time k / 16000, so
    the run's DAC time stays the time of its first output sample). Runs of exact
    silence (the prebuffer before a reply, the linger after it) are not pushed:
    the canceller reads gaps as silence and stays idle. A cut (the speaker's stream
    aborted: :meth:`ReferenceRing.cut`) overwrites with silence what was pushed for
    after it. Capture thread.
    """

    def __init__(self, ring: ReferenceRing) -> None:
        self.ring = ring
        self._rate = ring.sample_rate
        self._resampler = (None if self._rate == VAD_SAMPLE_RATE else
                           soxr.ResampleStream(self._rate, VAD_SAMPLE_RATE, 1, dtype="float32",
                                               quality="HQ"))
        self._run_dac = 0.0  # DAC time of the current run's first 16 kHz sample
        self._run_out = 0  # 16 kHz samples the current run has produced
        # DAC time where the last pushed reference ends: a cut silences up to there
        # (silence that was never pushed needs no overwriting, and pushing it would
        # wake the canceller for nothing).
        self._pushed_until = 0.0

    def drain(self, push: PushReference) -> None:
        ring = self.ring
        if not ring.unread:
            return
        for run in ring.read_new():
            if run.cut:  # overwrite what was pushed for after the cut: it never played
                unplayed = self._pushed_until - run.dac_time
                if unplayed > 0:
                    silence = np.zeros(round(unplayed * VAD_SAMPLE_RATE), np.int16)
                    push(silence.tobytes(), run.dac_time)
                    self._pushed_until = run.dac_time
                continue
            samples = run.samples
            if not run.continues:
                self._run_dac, self._run_out = run.dac_time, 0
                if self._resampler is not None:
                    self._resampler.clear()
                    samples = self._on_grid(run)
            out = (samples if self._resampler is None
                   else self._resampler.resample_chunk(samples))
            at = self._run_dac + self._run_out / VAD_SAMPLE_RATE
            self._run_out += len(out)
            pcm = float_to_pcm16(out)
            if np.any(np.frombuffer(pcm, "<i2")):
                push(pcm, at)
                self._pushed_until = at + len(out) / VAD_SAMPLE_RATE

    def _on_grid(self, run: ReferenceRun) -> np.ndarray:
        """A new run's samples, led in by the silence that puts its 16 kHz samples on
        the 16 kHz grid the canceller places them on (it rounds a time to a whole
        sample). Without it a reply lands up to half a sample (31 us) off where the
        last one did, and a filter that learnt the room on one reply re-learns on the
        next with the echo 10-20 dB louder meanwhile. To within half a sample at the
        speaker's rate (10 us at 48 kHz)."""
        grid = math.floor(run.dac_time * VAD_SAMPLE_RATE) / VAD_SAMPLE_RATE
        lead = round((run.dac_time - grid) * self._rate)
        if lead == 0:
            return run.samples
        self._run_dac = run.dac_time - lead / self._rate
        return np.concatenate([np.zeros(lead, np.float32), run.samples])


class EchoStage:
    """A capture-stage processor: reference in, echo-free 16 kHz PCM16 out.

    :meth:`process` is the capture hook (``worker.CaptureProcessor``): it drains
    ``references`` into ``canceller``, then cancels the echo in the block (and
    :meth:`heard` says what is recorded of it: ``guard_vad_only``). ``at``
    is the capture time the caller estimated for the block's first sample; it is
    steadied here (:class:`SteadyCaptureTimes`) because the canceller places the
    block on the reference's clock to a few samples. Capture thread; the output
    may be shorter or longer than the input by less than one canceller frame.
    """

    def __init__(self, canceller: EchoCanceller,
                 references: Sequence[ReferenceSource] = (), *,
                 guard_vad_only: bool = False) -> None:
        self.canceller = canceller
        self.guard_vad_only = guard_vad_only
        self._references = tuple(references)
        self._times = SteadyCaptureTimes(VAD_SAMPLE_RATE)
        self._elsewhere = False  # written by the loop thread, read by the capture thread
        self._stale = False  # the canceller heard another source: start afresh
        self._bypassed = False  # the last block passed through untouched (capture thread)

    def set_elsewhere(self, elsewhere: bool) -> None:
        """The microphone's stream is (True) or is no longer (False) on a source other
        than the one it was opened on: the sound server moved it (often to the
        speaker's own monitor, whose "echo" is the reference itself) or the device was
        lost. While it is, blocks pass through untouched and what was played is
        drained and dropped; after, the canceller starts afresh (what it learnt there
        is not this room's echo: kept, it would subtract an echo that is not there).
        Any thread: flags the capture thread reads at its next block."""
        if elsewhere:
            self._stale = True
        self._elsewhere = elsewhere

    @property
    def learnt(self) -> bool:
        """Whether the canceller has learnt the room (its first reference's warm-up is
        over: :attr:`EchoCanceller.trusted`). Any thread: a flag the capture thread sets."""
        return self.canceller.trusted

    def process(self, pcm16_16k: bytes, at: float) -> bytes:
        self._bypassed = self._elsewhere
        if self._bypassed:
            for reference in self._references:
                reference.drain(_drop)
            return pcm16_16k
        if self._stale:
            self._stale = False
            stale, self.canceller = self.canceller, EchoCanceller(self.canceller.config)
            stale.close()
            self._times = SteadyCaptureTimes(VAD_SAMPLE_RATE)
        push = self.canceller.push_reference
        for reference in self._references:
            reference.drain(push)
        steady = self._times.place(len(pcm16_16k) // 2, at)
        return self.canceller.process(pcm16_16k, steady)

    def describe_recent(self) -> str:
        """Why the last frames got through, while the canceller's guard judges them (a
        reply and its echo's tail; "" otherwise): its last judgements
        (:meth:`EchoCanceller.describe_recent`), for a ``-v`` log when speech starts over
        a reply. Capture thread."""
        if self._bypassed or not self.canceller.judging:
            return ""
        return self.canceller.describe_recent(_DESCRIBED_FRAMES)

    def heard(self, processed: bytes) -> bytes:
        """What utterances record and the tap hears of ``processed``, the block
        :meth:`process` has just returned (``worker.CaptureProcessor``): that block,
        or with ``guard_vad_only`` the same span as the filter made it, before the
        canceller's guard silenced any frame (:attr:`EchoCanceller.unguarded`). The
        guard is made to keep residual echo from the VAD; a talker over the reply
        then loses their quieter sounds to it, which a speech recogniser and a wake
        word model hear as holes. Capture thread, right after :meth:`process`."""
        if not self.guard_vad_only or self._bypassed:
            return processed
        before = self.canceller.unguarded
        return before if len(before) == len(processed) else processed

    def close(self) -> None:
        """Free the canceller; any thread once capture has stopped."""
        self.canceller.close()


def _drop(pcm16_16k: bytes, at: float) -> None:
    """A reference push that keeps nothing (the stage is bypassed)."""
