"""Where reply audio goes: the :class:`Sink` protocol, a WAV file, or nowhere.

The speaker (:class:`voicebot.playback.speaker.Speaker`) is the third sink. Every
sink takes the API's streamed audio as it arrives (PCM16 little-endian mono 24 kHz
bytes) on the asyncio loop thread.

Reply lifecycle, the same for every sink (the :class:`Sink` contract)::

    sink.push_pcm16(delta.pcm)   # for each audio delta
    sink.heard_samples(now)      # any time: how far the listener has heard
    sink.end_of_stream()         # the reply's stream ended
    await sink.drained()         # returns once the audio has really been played/written
    # or, on barge-in: sink.cancel()  (a short fade; stop pushing that reply's audio)

A push after ``end_of_stream()`` or ``cancel()`` starts the next reply. A websocket
or telephone sink implements the same contract (its position comes from what the
client reports it played).
"""

from __future__ import annotations

import os
import wave
from typing import Protocol, runtime_checkable

from ..audio import API_SAMPLE_RATE
from ..errors import InputFileError

__all__ = ["Sink", "WavSink", "NullSink", "Pcm16Joiner"]


@runtime_checkable
class Sink(Protocol):
    """Where a conversation's reply audio goes. Every method: the loop thread.

    Positions are counted in the API's samples (PCM16 mono 24 kHz, as pushed), so
    every sink answers in the same units whatever its device or wire rate.
    """

    #: A person hears this sink (a speaker, a client's player): its position paces the
    #: transcript and places barge-in. False for files and counters.
    audible: bool

    def push_pcm16(self, pcm: bytes) -> None:
        """Take one streamed audio delta (PCM16 LE mono 24 kHz; any length: an odd
        trailing byte is carried into the next call). The first push after
        :meth:`end_of_stream` or :meth:`cancel` starts the next reply."""
        ...

    def end_of_stream(self) -> None:
        """The reply's audio is complete: play/write the tail now."""
        ...

    def cancel(self) -> None:
        """Stop the reply quickly (barge-in) with a short fade; the rest is dropped."""
        ...

    async def drained(self) -> None:
        """Wait until everything accepted has been played or written (call
        :meth:`end_of_stream` or :meth:`cancel` first, or this waits for them)."""
        ...

    def heard_samples(self, now: float) -> int:
        """Samples of the current reply that had reached the listener by ``now``
        (monotonic seconds); for a file, those written."""
        ...

    @property
    def first_sound_at(self) -> float | None:
        """Monotonic time the current reply's first sample reached the listener
        (None: not yet, or nobody listens)."""
        ...

    @property
    def underruns(self) -> int:
        """Gaps in the current reply because its audio came too late."""
        ...

    def close(self) -> None:
        """Release the device or file. The sink cannot be used afterwards."""
        ...


class Pcm16Joiner:
    """Cuts arbitrary byte chunks into whole 16-bit samples, carrying an odd byte.

    Padding or dropping the odd byte would corrupt the next sample (field notes),
    so it waits for the next chunk instead. Pure; single thread.
    """

    def __init__(self) -> None:
        self._odd = b""

    def whole(self, pcm: bytes) -> bytes:
        """Return the whole samples available from the carried byte plus ``pcm``."""
        if self._odd:
            pcm = self._odd + pcm
        if len(pcm) % 2:
            self._odd = pcm[-1:]
            return pcm[:-1]
        self._odd = b""
        return pcm

    def reset(self) -> None:
        """Forget a carried byte (a stream that ends on half a sample has no more of it)."""
        self._odd = b""


class NullSink:
    """Discards audio but counts it (text-only and benchmark runs). Loop thread.

    Also the base of :class:`WavSink`: it keeps the per-reply frame count and the
    odd-byte carry; subclasses override :meth:`_write` to store the whole samples.
    """

    sample_rate = API_SAMPLE_RATE
    audible = False
    first_sound_at: float | None = None
    underruns = 0

    def __init__(self) -> None:
        self._joiner = Pcm16Joiner()
        self._reply_open = False
        self._frames = 0

    @property
    def frames_received(self) -> int:
        return self._frames

    @property
    def frames_played(self) -> int:
        return self._frames

    def heard_samples(self, now: float) -> int:
        return self._frames

    def push_pcm16(self, pcm: bytes) -> None:
        if not self._reply_open:
            self._reply_open = True
            self._frames = 0
        whole = self._joiner.whole(pcm)
        if whole:
            self._write(whole)
            self._frames += len(whole) // 2

    def _write(self, pcm16: bytes) -> None:
        """Store whole PCM16 samples (nothing, here)."""

    def end_of_stream(self) -> None:
        self._joiner.reset()
        self._reply_open = False

    def cancel(self) -> None:
        # Everything received was handled already; nothing is left to drop.
        self.end_of_stream()

    async def drained(self) -> None:
        return None

    def close(self) -> None:
        return None


class WavSink(NullSink):
    """Writes exactly the received audio to a 24 kHz mono 16-bit WAV file.

    For ``--output`` and headless runs. The file is created here (errors name it);
    replies are appended one after another, and the header is kept valid after every
    write, so the file is usable even if the process dies. Loop thread.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        super().__init__()
        self.frames_total = 0  # frames written over all replies
        self.path = ""
        self._wav: wave.Wave_write | None = None
        if path is not None:
            self._open(os.fspath(path))

    def _open(self, path: str) -> None:
        """Create the file and write its header (errors surface here, naming it)."""
        self.path = path
        try:
            # Open the file ourselves: wave.open(path) on a bad path leaves a broken
            # Wave_write whose __del__ raises.
            self._file = open(self.path, "wb")
        except OSError as exc:
            raise InputFileError(self.path, f"cannot write ({exc.strerror or exc})") from None
        try:
            self._wav = wave.open(self._file, "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(API_SAMPLE_RATE)
            self._wav.writeframes(b"")  # write the header now: errors surface here
        except OSError as exc:
            self._file.close()
            raise InputFileError(self.path, f"cannot write ({exc.strerror or exc})") from None

    def _write(self, pcm16: bytes) -> None:
        if self._wav is None:
            raise InputFileError(self.path, "already closed")
        try:
            self._wav.writeframes(pcm16)
        except OSError as exc:
            raise InputFileError(self.path, f"cannot write ({exc.strerror or exc})") from None
        self.frames_total += len(pcm16) // 2

    def close(self) -> None:
        if self._wav is not None:
            wav, self._wav = self._wav, None
            try:
                wav.close()  # patches the header; leaves our file open
                self._file.close()
            except OSError as exc:
                raise InputFileError(self.path, f"cannot write ({exc.strerror or exc})") from None

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
