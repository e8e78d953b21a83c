"""Acoustic echo cancellation at the capture stage, fed by a reference tap.

The microphone hears the assistant's own reply; :class:`EchoCanceller` removes it
before the VAD sees the audio, so a user can talk over the reply (barge-in) on
speakers. It is not speaker code: anything that knows what was played, and when
it reached the listener, feeds the reference — the speaker (DAC times from
PortAudio) or, in the websocket bridge, what was sent to the client.

Two calls, on two threads::

    aec.push_reference(pcm16_16k, at)   # what was played; `at`: DAC time of its first sample
    clean = aec.process(mic_pcm16_16k, at)  # `at`: ADC time of the block's first sample

Both times are seconds on one monotonic clock (PortAudio's stream time, which
is ``time.monotonic`` on Linux/ALSA, or any clock both sides share). The delay
between the two streams is taken from those timestamps, plus what they cannot
see — a sound server's loopback, a client's playout buffer, the distance through
the air — measured on the audio itself (:class:`~.aec_align.DelayEstimator`).

Processing runs only while reference plays (and for the echo's tail after it):
otherwise :meth:`EchoCanceller.process` returns its input untouched, at no cost.
The canceller is SpeexDSP's (``aec_speex``); ``scripts/bench_aec.py`` says why.

While it has not yet learnt the room (the first reference of its life, until
the delay is measured and the echo is ``trust_erle_db`` down, at most
``warmup_max_ms``), it outputs silence during reference: for that second the
microphone is deaf, as it was before echo cancellation, instead of letting the
assistant hear itself and stop. It keeps what it learnt across replies. A caller
that mutes capture itself while the canceller learns (the kiosk: see
:attr:`EchoCanceller.trusted`) turns that off with ``warmup_silence=False``, so a
user who speaks over a short sound of its own (the kiosk's wake earcon) is heard.

When the echo path moves under the filter (a sound server's loopback that missed
its deadline and came back later, capture samples lost), the echo comes through
almost whole until the delay is measured again and the filter re-adapts. The
guard (:class:`~.aec_guard.EchoGuard`) silences the frames the canceller plainly
missed unless they are louder than any echo of the recent reference could be (a
user talking over the reply), and a run of such frames wakes the delay estimator
at once. Frames of exact silence from the microphone (a dropout) are passed
through as silence without touching the filter, which keeps what it learnt.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import ConfigError
from .aec_align import CaptureClock, DelayEstimator, ReferenceTimeline
from .aec_config import AecConfig
from .aec_guard import EchoGuard
from .aec_record import BlockJudgement, JudgementRecord
from .aec_speex import SpeexEchoCanceller, SpeexUnavailable, speexdsp_available

__all__ = ["AecConfig", "EchoCanceller", "AEC_MODES", "echo_canceller_for", "aec_available"]

AEC_MODES = ("auto", "on", "off")
_RATE = 16_000


def aec_available() -> bool:
    """Whether echo cancellation can run here (libspeexdsp loads)."""
    return speexdsp_available()


def echo_canceller_for(mode: str, *, speaker: bool,
                       config: AecConfig | None = None) -> EchoCanceller | None:
    """The canceller ``aec = auto | on | off`` asks for, or None.

    ``auto``: on when the library is available and a speaker is used; ``on``:
    always, failing with one line if the library is missing; ``off``: never.
    """
    if mode not in AEC_MODES:
        raise ConfigError(f"aec must be one of {', '.join(AEC_MODES)} (got {mode!r})")
    if mode == "off" or (mode == "auto" and not speaker):
        return None
    try:
        return EchoCanceller(config)
    except SpeexUnavailable as exc:
        if mode == "on":
            raise ConfigError(str(exc)) from None
        return None


def _frame_powers(samples: np.ndarray, frame: int) -> np.ndarray:
    """Sum of squares of each whole ``frame`` of int16 ``samples`` (float32)."""
    x = samples[:len(samples) // frame * frame].astype(np.float32).reshape(-1, frame)
    powers: np.ndarray = np.einsum("ij,ij->i", x, x)
    return powers


class EchoCanceller:
    """Removes the played reference's echo from PCM16 16 kHz mono microphone audio.

    :meth:`push_reference` may be called from any thread (the loop thread of a
    websocket sink, the capture thread draining a speaker's tap); :meth:`process`
    from one thread, the capture thread. A lock guards the reference timeline;
    it is held for a copy, never across the canceller's work.

    :meth:`process` may return fewer or more bytes than it was given: the
    canceller works on whole frames and holds back the rest (fewer than one
    frame, :attr:`pending_samples`) for the next call. Sample for sample, the
    output is the input in order, so positions counted on the output are
    positions on the microphone.
    """

    def __init__(self, config: AecConfig | None = None) -> None:
        self.config = cfg = config or AecConfig()
        self._frame = cfg.frame_samples
        self._speex = SpeexEchoCanceller(self._frame, cfg.filter_ms * _RATE // 1000, _RATE,
                                         suppress=cfg.suppress,
                                         echo_suppress_db=cfg.echo_suppress_db,
                                         echo_suppress_active_db=cfg.echo_suppress_active_db)
        self._lock = threading.Lock()
        self._timeline = ReferenceTimeline(_RATE, capacity_s=2.0 + cfg.max_delay_ms / 1000)
        self._clock = CaptureClock(_RATE)
        self._delay = DelayEstimator(_RATE, max_delay_s=cfg.max_delay_ms / 1000)
        self._pending = np.zeros(0, np.int16)
        self._pending_slot = 0
        self._margin = cfg.margin_ms * _RATE // 1000
        self._tail = cfg.filter_ms * _RATE // 1000 + self._frame
        self._guard_tail = cfg.guard_tail_ms * _RATE // 1000 if cfg.guard else 0
        self._was_active = False
        self._judged_tail = False
        # Frames judged young again at a new reply and after a new delay.
        self._fresh_frames = cfg.guard_fresh_ms // cfg.frame_ms
        frame = self._frame
        self._back_frames = -(-(cfg.filter_ms + cfg.guard_back_ms) * _RATE // 1000 // frame)
        self._ahead_frames = -(-cfg.guard_ahead_ms * _RATE // 1000 // frame)
        # Powers of the aligned reference frames already processed, newest last.
        self._ref_history = np.zeros(self._back_frames, np.float32)
        self._guard = EchoGuard(
            min_erle_db=cfg.guard_min_erle_db, talk_margin_db=cfg.guard_talk_margin_db,
            young_min_erle_db=cfg.guard_young_min_erle_db,
            young_frames=cfg.guard_young_ms // cfg.frame_ms,
            learn_erle_db=cfg.trust_erle_db, residual_db=cfg.guard_residual_db,
            young_residual_db=cfg.guard_young_residual_db, tail_db=cfg.guard_tail_db,
            filter_erle_db=cfg.guard_filter_erle_db,
            confirm_frames=cfg.guard_confirm_ms // cfg.frame_ms,
            min_reference_power=(10 ** (cfg.guard_min_reference_dbfs / 20) * 32768) ** 2 * frame,
        ) if cfg.guard else None
        self.dropout_frames = 0
        """Microphone frames of exact silence (a stream that missed its deadline): not
        fed to the canceller, whose filter is kept for when the echo comes back."""
        self._warmup_samples = 0
        self._trust_frames = max(1, cfg.trust_window_ms // cfg.frame_ms)
        self._window_in: list[float] = []
        self._window_out: list[float] = []
        self.trusted = False
        """True once the canceller has learnt the room (see the module docstring).
        Written by the capture thread; any thread may read it."""
        self._record = JudgementRecord()
        self.processed_samples = 0
        """Microphone samples that went through the canceller (not passed through)."""
        self.unguarded = b""
        """What the last :meth:`process` returned as the filter made it, before the
        guard (and the warm-up) silenced any frame: the same length, the same
        positions. For a listener that needs whole words over the reply (the kiosk's
        wake word), where the guard would leave holes in a talker's quieter sounds;
        residual echo is in it when the filter misses. Capture thread."""

    # ------------------------------------------------------------ reference side

    def push_reference(self, pcm16_16k: bytes, at: float) -> None:
        """What was played (PCM16 16 kHz mono), its first sample at the DAC at ``at``.

        Any thread. Push every block of a reply as it is played, underrun silence
        included or not (gaps read as silence); nothing between replies.
        """
        samples = np.frombuffer(pcm16_16k, dtype="<i2", count=len(pcm16_16k) // 2)
        with self._lock:
            self._timeline.push(samples, at)

    # ------------------------------------------------------------ capture side

    @property
    def pending_samples(self) -> int:
        """Samples held back until a frame is complete (fewer than one frame)."""
        return len(self._pending)

    @property
    def delay_samples(self) -> int | None:
        """The echo delay beyond the timestamps, as measured (None: not yet)."""
        return self._delay.delay

    @property
    def active(self) -> bool:
        """Whether the last :meth:`process` call ran the canceller."""
        return self._was_active

    @property
    def judging(self) -> bool:
        """Whether the guard judged the last :meth:`process` call's frames: the
        canceller ran, or they were the echo's tail after it (``guard_tail_ms``)."""
        return self._was_active or self._judged_tail

    def process(self, mic_pcm16_16k: bytes, at: float) -> bytes:
        """Cancel the echo in a captured block; ``at`` is its first sample's ADC time.

        Capture thread. Returns the processed audio (see the class docstring for
        its length). Outside reference (and its echo tail) returns the input as is.
        """
        mic = np.frombuffer(mic_pcm16_16k, dtype="<i2", count=len(mic_pcm16_16k) // 2)
        slot = self._clock.place(at, len(mic))
        if len(self._pending):
            slot -= len(self._pending)
            mic = np.concatenate([self._pending, mic])
        measured = self._delay.delay
        delay = measured or 0
        shift = max(0, delay - self._margin)
        with self._lock:
            active = self._timeline.overlaps(slot - shift - self._tail, slot + len(mic))
            tail = not active and self._guard_tail > 0 and self._timeline.overlaps(
                slot - shift - self._tail - self._guard_tail, slot + len(mic))
        if not active:
            if self._was_active:
                self._delay.reset_history()
            self._was_active = False
            self._pending = np.zeros(0, np.int16)
            self.unguarded = mic.astype("<i2").tobytes()
            self._judged_tail = tail
            if tail:
                return self._judge_tail(mic, slot)
            self._ref_history[:] = 0
            return self.unguarded
        if not self._was_active and self._guard is not None:
            self._guard.refresh(self._fresh_frames)
        self._was_active = True
        n = len(mic) // self._frame * self._frame
        if n == 0:
            self._pending = mic.copy()
            self.unguarded = b""
            return b""
        frame = self._frame
        k = n // frame
        back, ahead = self._back_frames, self._ahead_frames
        wide, ref0 = np.zeros(n + ahead * frame, np.int16), np.zeros(n, np.int16)
        with self._lock:
            self._timeline.read(slot - shift, wide)
            self._timeline.read(slot, ref0)
        near = mic[:n]
        self._delay.push(near, ref0)
        if self._guard is not None and self._delay.delay != measured:
            # The delay was measured anew: the filter re-converges on the moved path.
            self._guard.refresh(self._fresh_frames)
        # Per frame: the loudest reference whose echo can be in it (for the guard),
        # from the powers of the frames before (kept) and of this block and after.
        powers = np.concatenate([self._ref_history, _frame_powers(wide, frame)])
        window = back + ahead + 1
        ref_loudest = [float(powers[j:j + window].max()) for j in range(k)]
        self._ref_history = powers[k:k + back]
        mic_frames = np.ascontiguousarray(near).reshape(k, frame)
        mic_power = _frame_powers(near, frame).tolist()
        # A dropout (exact silence) is no echo path; adapting on it would unlearn the
        # room: such frames skip the canceller, whose state waits for the echo.
        live = [j for j in range(k) if mic_power[j] != 0.0]
        self.dropout_frames += k - len(live)
        out = np.zeros((k, frame), np.int16)
        guard = self._guard
        # The guard learns the echo's level only near frames the linear filter removed it
        # from: the residual echo suppressor also takes power out of a talker's words
        # over a young filter, and learning from those (a user's question over the wake
        # earcon) made every quieter word of theirs look like echo. (No suppressor: the
        # output is the filter's own.)
        filtered = (np.zeros((k, frame), np.int16)
                    if guard is not None and self.config.suppress else None)
        self._speex.cancel_frames(mic_frames, wide[:n].reshape(k, frame), out, live, filtered)
        out_power = _frame_powers(out.reshape(-1), frame).tolist()
        filter_power = (out_power if filtered is None
                        else _frame_powers(filtered.reshape(-1), frame).tolist())
        warmup_silence = self.config.warmup_silence
        unguarded: np.ndarray | None = None  # the canceller's output, once a frame is silenced
        decisions: list[bool] = []
        for j in live:
            admitted = guard is None or guard.admit(mic_power[j], out_power[j], ref_loudest[j],
                                                    filter_power[j])
            decisions.append(admitted)
            learnt = self.trusted or self._learnt(mic_power[j], out_power[j])
            if not admitted or (not learnt and warmup_silence):
                if unguarded is None:
                    unguarded = out.copy()
                out[j] = 0
        self._record.add(BlockJudgement(
            slot, mic_power, out_power, ref_loudest, live, decisions,
            None if guard is None else guard.erl, self._delay.delay,
            guard is not None and guard.young))
        if guard is not None and guard.lost and not self._delay.urgent:
            self._delay.wake()  # the delay moved: measure it again now
        self.processed_samples += n
        self._pending = mic[n:].copy()
        result = out.tobytes()
        self.unguarded = result if unguarded is None else unguarded.tobytes()
        return result

    def _judge_tail(self, mic: np.ndarray, slot: int) -> bytes:
        """The echo's reverberant tail after the canceller stopped: each frame of
        ``mic`` passes or is silenced by the guard on level alone, against the reply's
        last reference (``AecConfig.guard_tail_ms``). Capture thread."""
        guard = self._guard
        assert guard is not None
        frame, back, ahead = self._frame, self._back_frames, self._ahead_frames
        k = -(-len(mic) // frame)
        out = np.zeros(k * frame, np.int16)
        out[:len(mic)] = mic
        mic_power = _frame_powers(out, frame).tolist()
        # Nothing is played in these frames (else the canceller would run): the
        # reference's recent powers move on with silence.
        powers = np.concatenate([self._ref_history, np.zeros(k + ahead, np.float32)])
        ref_loudest = [float(powers[j:j + back + ahead + 1].max()) for j in range(k)]
        self._ref_history = powers[k:k + back]
        decisions = [guard.admit_tail(mic_power[j], ref_loudest[j]) for j in range(k)]
        for j, admitted in enumerate(decisions):
            if not admitted:
                out[j * frame:(j + 1) * frame] = 0
        self._record.add(BlockJudgement(slot, mic_power, mic_power, ref_loudest, list(range(k)),
                                        decisions, guard.erl, self._delay.delay, guard.young))
        return out[:len(mic)].tobytes()

    def describe_recent(self, frames: int = 10) -> str:
        """The guard's last ``frames`` judgements as one line, for a log ("" before
        any): why speech that started over a reply got through (a talker, or echo the
        canceller missed). Capture thread."""
        return self._record.describe(frames, _RATE)

    def _learnt(self, mic_power: float, out_power: float) -> bool:
        """Warm-up (first reference only): has the canceller learnt the room yet?
        Fed the powers of a microphone frame and of the canceller's output for it."""
        self._warmup_samples += self._frame
        cfg = self.config
        if self._warmup_samples >= cfg.warmup_max_ms * _RATE // 1000:
            self.trusted = True
            return True
        if self._delay.delay is None:
            return False
        self._window_in.append(mic_power)
        self._window_out.append(out_power)
        if len(self._window_in) > self._trust_frames:
            del self._window_in[0], self._window_out[0]
        if len(self._window_in) == self._trust_frames:
            removed = sum(self._window_in) / max(sum(self._window_out), 1.0)
            guard = self._guard
            if removed >= 10 ** (cfg.trust_erle_db / 10) and (guard is None or guard.erl is not None):
                self.trusted = True
        return self.trusted

    def close(self) -> None:
        """Free the canceller's C state; idempotent."""
        self._speex.close()
