"""Pacing printed transcript text to the audio that is actually playing.

Transcript deltas usually arrive well ahead of the audio they describe. Printing them
as they come shows the whole sentence before it is spoken; :class:`TranscriptPacer`
releases characters in proportion to how much of the received audio has been played.

Pure: no I/O, no clock. Time enters only as the played position (``played_frames``)
the caller passes to :meth:`TranscriptPacer.advance`.
"""

from __future__ import annotations

__all__ = ["TranscriptPacer"]


class TranscriptPacer:
    """Maps characters of a reply's transcript onto its audio, proportionally.

    Feed it with :meth:`feed_text` (transcript deltas) and :meth:`feed_audio` (how many
    audio frames arrived), call :meth:`end_of_stream` when the reply's stream ended,
    and call :meth:`advance` with the number of frames played so far (same units as
    :meth:`feed_audio`, e.g. output-rate frames from the speaker) whenever you want to
    print: it returns the characters that are now due, never the same one twice.

    With ``text`` characters and ``audio`` frames received so far, the first
    ``floor(len(text) * played / audio)`` characters are due. Before the end the
    totals are those received so far (the best estimate available: the
    text-to-audio ratio of what arrived); after :meth:`end_of_stream` they are final,
    and once ``played >= audio`` every character is due. A reply with no audio at all
    prints whole at the end of the stream. Single-threaded: use it on one thread.
    """

    def __init__(self, *, max_chars_per_frame: float | None = None) -> None:
        # While the stream is still coming, the text received usually runs ahead of
        # the audio received, so the proportion overestimates how far the voice has
        # got (seen: 94 % of the words "heard" after 30 % of the audio). A ceiling
        # on the speaking rate (characters per audio frame) keeps the estimate near
        # the truth until the stream ends and the proportion becomes exact.
        self._max_chars_per_frame = max_chars_per_frame
        self._text: list[str] = []
        self._text_len = 0
        self._joined = ""
        self._audio_frames = 0
        self._ended = False
        self._printed = 0

    def feed_text(self, delta: str) -> None:
        """Add a transcript delta (plain text, markup already removed)."""
        if delta:
            self._text.append(delta)
            self._text_len += len(delta)

    def feed_audio(self, frames: int) -> None:
        """Add ``frames`` of received audio (in the units :meth:`advance` uses)."""
        if frames < 0:
            raise ValueError("frames must not be negative")
        self._audio_frames += frames

    def end_of_stream(self) -> None:
        """The reply is complete: totals are final from now on."""
        self._ended = True

    def due_chars(self, played_frames: int) -> int:
        """How many characters (from the start) the audio has reached."""
        total = self._text_len
        audio = self._audio_frames
        if audio <= 0:
            return total if self._ended else 0
        if played_frames >= audio and self._ended:
            return total  # the proportion is 1 (clamped: resampler edges can overshoot)
        played = min(max(0, played_frames), audio)
        due = total * played // audio
        if not self._ended and self._max_chars_per_frame is not None:
            due = min(due, int(played * self._max_chars_per_frame))
        return max(0, due)

    def advance(self, played_frames: int) -> str:
        """Return the characters newly due at ``played_frames`` (maybe ``""``)."""
        due = max(self._printed, self.due_chars(played_frames))
        if due <= self._printed:
            return ""
        text = self._full_text()
        piece = text[self._printed:due]
        self._printed = due
        return piece

    def flush(self) -> str:
        """Return every character not printed yet (e.g. when the audio was cut off
        and the rest should still be shown, or the reply had no audio)."""
        text = self._full_text()
        piece = text[self._printed:]
        self._printed = len(text)
        return piece

    def _full_text(self) -> str:
        if len(self._text) > 1:
            self._joined = "".join(self._text)
            self._text = [self._joined]
        elif self._text:
            self._joined = self._text[0]
        return self._joined

    @property
    def printed_chars(self) -> int:
        return self._printed

    @property
    def text(self) -> str:
        """The whole transcript received so far."""
        return self._full_text()

    @property
    def done(self) -> bool:
        """The stream ended and every character has been returned."""
        return self._ended and self._printed >= self._text_len
