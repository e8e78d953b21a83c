"""Turn a stream of VAD-classified frames into utterances: a pure state machine.

No I/O, no clock, no VAD: the caller classifies each frame (``vad.py`` does it
with webrtcvad) and feeds ``(frame, is_speech)``; the segmenter answers with
events (:mod:`.events`). Time is the number of samples fed so far, so the same input
always gives the same events, however and whenever it arrives.

States::

    idle ──(start_voiced_frames of the last start_window_frames are speech)──▶ speech
          (the utterance starts preroll_ms before the burst's first speech frame)
    speech ──(a hang-over of non-speech)──▶ idle  [UtteranceEnded "silence" or
                                                   UtteranceDiscarded "too_short"]
    speech ──(length reaches max_utterance_ms)──▶ idle  [UtteranceEnded "max_length"]
    speech ──(pause_ms of non-speech, short of the hang-over)──▶ speech  [SpeechPaused]
    speech ──(speech again after a SpeechPaused)──▶ speech  [SpeechResumed]
    any ──(muted)──▶ muted ──(unmuted)──▶ idle  [UtteranceDiscarded "muted" if in speech]

What counts as speech and how long the hang-over is are the end-of-turn policy
(``endpoint``: ``fixed`` or ``adaptive``, see ``endpoint.py``).

Sample accounting is exact: an utterance's ``pcm`` is precisely the input samples
in ``[start_sample, end_sample)``; utterances never overlap and come in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from .endpoint import Endpointer, EndpointMode
# The events are the segmenter's API too (README): re-exported through __all__.
from .events import (
    Event,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)

__all__ = [
    "SegmenterConfig",
    "Segmenter",
    "SpeechStarted",
    "UtteranceEnded",
    "UtteranceDiscarded",
    "SpeechPaused",
    "SpeechResumed",
    "Event",
    "EndpointMode",
]

SAMPLE_RATE = 16_000  # webrtcvad's rate; the segmenter only ever sees 16 kHz mono PCM16
_BYTES_PER_SAMPLE = 2


@dataclass(frozen=True)
class SegmenterConfig:
    """How utterances are found. Durations are in milliseconds, counts in VAD frames.

    Start and timeout follow Home Assistant's voice pipeline (0.3 s of speech to
    start, 15 s timeout); the end of the turn is the ``adaptive`` policy
    (``endpoint.py``), chosen on the corpus of ``scripts/bench_endpoint.py``. All
    were checked against espeak-ng speech in ``tests/capture``.
    """

    #: Length of one VAD frame; webrtcvad accepts 10, 20 or 30 ms.
    frame_ms: int = 30
    #: Audio kept from before the first speech frame, so a soft first syllable
    #: that the VAD misses is still sent (LiveKit pads 0.5 s, HA 0.3 s).
    preroll_ms: int = 300
    #: Start when this many of the last ``start_window_frames`` frames are speech.
    #: 8 of 10 (240 ms of speech within 300 ms, HA's "0.3 s to start") tolerates
    #: two unvoiced frames in a weak onset, yet a 100 ms beep (which webrtcvad
    #: marks as ~7 frames with its own overhang) or a click never starts one.
    start_voiced_frames: int = 8
    start_window_frames: int = 10
    #: End-of-turn policy: "adaptive" (VAD and energy envelope, a hang-over that
    #: adapts to noise and to the utterance's pauses) or "fixed" (VAD, ``hangover_ms``).
    endpoint: EndpointMode = "adaptive"
    #: fixed: non-speech that ends the turn: 0.7 s like HA; natural pauses inside
    #: a sentence (~0.3 s) must not split it.
    hangover_ms: int = 700
    #: adaptive: the hang-over in a quiet room (where a 300 ms pause looks up to
    #: 330-390 ms long: a soft sound next to it is lost) ...
    min_hangover_ms: int = 420
    #: ... and in loud noise (where it looks up to 540 ms long).
    max_hangover_ms: int = 570
    #: adaptive: the utterance's SNR (its loudest frame over the noise floor, both
    #: pre-emphasised) at and above which the hang-over is the minimum, and at and
    #: below which it is the maximum (linear between).
    quiet_snr_db: float = 45.0
    noisy_snr_db: float = 20.0
    #: adaptive: a frame goes on with an utterance only this far above the noise floor ...
    floor_margin_db: float = 6.0
    #: ... and starts one this far above it ...
    start_margin_db: float = 3.0
    #: ... the floor being the lowest frame level over this window.
    floor_window_ms: int = 2000
    #: adaptive: after a pause, the hang-over is at least that pause plus this
    #: (0: off; measured on the corpus, whose pauses are independent, 120 ms
    #: spared 4 of 46 splits at 350-400 ms pauses for +16 ms median latency).
    pause_margin_ms: int = 0
    #: Trailing audio kept after the last speech frame: a soft final consonant
    #: that noise hides from the VAD and the energy check (up to 285 ms in
    #: -40 dBFS white noise).
    tail_ms: int = 300
    #: Speech shorter than this (first to last speech frame) is discarded: coughs, knocks.
    min_utterance_ms: int = 300
    #: An utterance is cut here (HA's 15 s command timeout); speech that goes on
    #: starts the next utterance at exactly that sample.
    max_utterance_ms: int = 15_000
    #: Report a pause (:class:`SpeechPaused`) once the speech of a long enough
    #: utterance has paused this long, short of the hang-over, and its resumption
    #: (:class:`SpeechResumed`): the turn-taking core may send a preemptive request
    #: then. 0: never. At ``tail_ms`` or more the paused utterance's audio is exactly
    #: what :class:`UtteranceEnded` will carry if the turn ends there.
    pause_ms: int = 0
    #: webrtcvad aggressiveness 0–3, passed through to the VAD. 3 never marks
    #: -40 dBFS white noise as speech and finds espeak onsets as well as 2 does.
    aggressiveness: int = 3

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ConfigError(f"frame_ms must be 10, 20 or 30 (webrtcvad), not {self.frame_ms}")
        if not 0 <= self.aggressiveness <= 3:
            raise ConfigError(f"VAD aggressiveness must be 0-3, not {self.aggressiveness}")
        if not 1 <= self.start_voiced_frames <= self.start_window_frames:
            raise ConfigError("start_voiced_frames must be between 1 and start_window_frames")
        if self.endpoint not in ("fixed", "adaptive"):
            raise ConfigError(f"endpoint must be 'fixed' or 'adaptive', not {self.endpoint!r}")
        for name in ("preroll_ms", "hangover_ms", "tail_ms", "min_utterance_ms",
                     "min_hangover_ms", "pause_margin_ms", "floor_margin_db", "pause_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.min_hangover_ms > self.max_hangover_ms:
            raise ConfigError("min_hangover_ms must not exceed max_hangover_ms")
        if self.floor_window_ms < self.frame_ms:
            raise ConfigError("floor_window_ms must be at least one frame")
        shortest = self.hangover_ms if self.endpoint == "fixed" else self.min_hangover_ms
        if self.tail_ms > shortest:
            raise ConfigError("tail_ms must not exceed the hang-over")
        if self.max_utterance_ms <= max(self.min_utterance_ms, self.frame_ms):
            raise ConfigError("max_utterance_ms must exceed min_utterance_ms and frame_ms")

    @property
    def frame_samples(self) -> int:
        return self.frame_ms * SAMPLE_RATE // 1000

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * _BYTES_PER_SAMPLE


class Segmenter:
    """Feed VAD frames, get utterance events. Pure; use from one thread at a time.

    Call :meth:`feed` for every frame in order, then :meth:`end` at end of input.
    Set :attr:`muted` to ignore input (e.g. while the assistant speaks); it takes
    effect at the next frame fed, which also reports a discarded utterance.
    """

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        c = self.config
        ms = SAMPLE_RATE // 1000
        self._frame_samples = c.frame_samples
        self._preroll = c.preroll_ms * ms
        self._endpoint = Endpointer(
            c.endpoint, frame_samples=c.frame_samples, hangover=c.hangover_ms * ms,
            min_hangover=c.min_hangover_ms * ms, max_hangover=c.max_hangover_ms * ms,
            quiet_snr_db=c.quiet_snr_db, noisy_snr_db=c.noisy_snr_db,
            floor_margin_db=c.floor_margin_db, start_margin_db=c.start_margin_db,
            floor_window_frames=max(1, c.floor_window_ms // c.frame_ms),
            pause_margin=c.pause_margin_ms * ms, start_window_frames=c.start_window_frames)
        self._tail = c.tail_ms * ms
        self._min = c.min_utterance_ms * ms
        self._max = c.max_utterance_ms * ms
        # Idle history kept for the pre-roll: the onset may lie up to two windows
        # before the trigger (see _push_window); older history is never needed.
        self._keep = self._preroll + 2 * c.start_window_frames * self._frame_samples
        #: Set to True to discard input from the next frame on; False to listen again.
        self.muted = False
        self._pos = 0  # samples fed so far
        self._buf = bytearray()  # input samples [_buf_start, _pos)
        self._buf_start = 0
        self._floor = 0  # no utterance may start before this sample (previous end, unmute)
        self._window: deque[bool] = deque(maxlen=c.start_window_frames)
        self._voiced_in_window = 0
        self._onset: int | None = None  # first speech frame of the current burst (idle only)
        self._in_speech = False
        self._start = 0  # utterance start (pre-roll included)
        self._voiced_start = 0  # first speech frame of the utterance
        self._voiced_end = 0  # end of the last speech frame
        self._silence = 0  # non-speech samples since the last speech frame
        self._pause = c.pause_ms * ms  # 0: pauses are not reported
        self._paused = False  # a SpeechPaused was reported for the current silence

    @property
    def position(self) -> int:
        """Samples fed so far (the time, in samples, of the end of the input)."""
        return self._pos

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def voiced_end(self) -> int:
        """End (in samples) of the last frame classified as speech in the current
        utterance: how far the user has really spoken, the hang-over's silence not
        counted. Meaningful while :attr:`in_speech`. With the adaptive policy a frame
        is speech only if its level also stands above the noise floor."""
        return self._voiced_end

    @property
    def hangover(self) -> int:
        """Samples of silence that would end the current utterance now."""
        return self._endpoint.hangover

    def feed(self, frame: bytes, is_speech: bool) -> list[Event]:
        """Process one frame of ``config.frame_ms`` PCM16 16 kHz mono; return new events.

        ``frame`` must be exactly ``config.frame_bytes`` long (ValueError otherwise:
        that is a bug in the caller, not a runtime condition).
        """
        if len(frame) != self.config.frame_bytes:
            raise ValueError(f"frame is {len(frame)} bytes, expected {self.config.frame_bytes}")
        events: list[Event] = []
        if self.muted:
            # Muted audio is counted (time stays true) but never kept: nothing heard
            # while muted may leak into a later pre-roll.
            if self._in_speech:
                events.append(UtteranceDiscarded(self._start, self._pos, "muted"))
            self._pos += self._frame_samples
            self._reset_idle()
            return events

        frame_start = self._pos
        self._buf += frame
        self._pos += self._frame_samples
        starts, voiced = self._endpoint.classify(frame, is_speech)
        if self._in_speech:
            if voiced:
                if self._silence:
                    self._endpoint.resumed(self._silence)
                if self._paused:
                    self._paused = False
                    events.append(SpeechResumed(self._start, frame_start))
                self._voiced_end = self._pos
                self._silence = 0
            else:
                self._silence += self._frame_samples
            if self._silence >= self._endpoint.hangover:
                end = min(self._voiced_end + self._tail, self._pos, self._start + self._max)
                events.append(self._finish(end, "silence"))
            elif self._pos - self._start >= self._max:
                events.append(self._finish(self._start + self._max, "max_length"))
            elif (self._pause and not self._paused and self._silence >= self._pause
                  and self._voiced_end - self._voiced_start >= self._min):
                self._paused = True
                end = min(self._voiced_end + self._tail, self._pos, self._start + self._max)
                events.append(SpeechPaused(self._slice(self._start, end), self._start, end))
        else:
            self._push_window(frame_start, starts)
            if self._voiced_in_window >= self.config.start_voiced_frames:
                events.append(self._begin())
            else:
                self._trim(self._pos - self._keep)
        return events

    def end(self) -> list[Event]:
        """End of input: flush an utterance in progress (if long enough).

        The segmenter is idle afterwards and may be fed again; time keeps counting.
        """
        if not self._in_speech:
            return []
        if self.muted:
            ev: Event = UtteranceDiscarded(self._start, self._pos, "muted")
            self._reset_idle()
            return [ev]
        end = min(self._voiced_end + self._tail, self._pos)
        return [self._finish(end, "end_of_input")]

    # -- internals -------------------------------------------------------------------

    def _push_window(self, frame_start: int, is_speech: bool) -> None:
        if len(self._window) == self._window.maxlen and self._window[0]:
            self._voiced_in_window -= 1
        self._window.append(is_speech)
        self._voiced_in_window += is_speech
        # The onset is the first speech frame of a burst whose gaps are all shorter
        # than the window, not just the first one inside the window: in noise the VAD
        # often loses a soft first syllable for a few frames, and anchoring the
        # pre-roll at the window would then clip it.
        if is_speech and self._onset is None:
            self._onset = frame_start
        elif self._voiced_in_window == 0:
            self._onset = None

    def _begin(self) -> SpeechStarted:
        onset = self._onset if self._onset is not None else self._pos - self._frame_samples
        onset = max(onset, self._pos - self._keep + self._preroll)  # bounded look-back
        self._start = max(onset - self._preroll, self._floor, self._buf_start)
        self._voiced_start = onset
        self._voiced_end = self._pos  # the frame that fired the trigger is speech
        self._silence = 0
        self._in_speech = True
        self._endpoint.begin()
        self._window.clear()
        self._voiced_in_window = 0
        self._onset = None
        self._trim(self._start)
        return SpeechStarted(self._start)

    def _finish(self, end: int, reason: Literal["silence", "max_length", "end_of_input"]) -> Event:
        start = self._start
        ev: Event
        if reason != "max_length" and self._voiced_end - self._voiced_start < self._min:
            ev = UtteranceDiscarded(start, end, "too_short")
        else:
            ev = UtteranceEnded(self._slice(start, end), start, end, reason)
        self._in_speech = False
        self._paused = False
        self._floor = end
        self._trim(max(end, self._pos - self._keep))
        return ev

    def _slice(self, start: int, end: int) -> bytes:
        """The input samples [start, end) (buffered)."""
        lo = (start - self._buf_start) * _BYTES_PER_SAMPLE
        return bytes(self._buf[lo:(end - self._buf_start) * _BYTES_PER_SAMPLE])

    def _reset_idle(self) -> None:
        """Forget everything before the current position (used while muted)."""
        self._in_speech = False
        self._paused = False
        self._window.clear()
        self._voiced_in_window = 0
        self._onset = None
        self._buf.clear()
        self._buf_start = self._floor = self._pos

    def _trim(self, first_kept: int) -> None:
        """Drop buffered samples before ``first_kept``."""
        drop = first_kept - self._buf_start
        if drop > 0:
            del self._buf[: drop * _BYTES_PER_SAMPLE]
            self._buf_start = first_kept
