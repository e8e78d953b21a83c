"""The kiosk's earcons: short sounds for wake, thinking, done, error and timer. Pure.

Each is a few sine notes (a soft second harmonic for a less piercing tone), every
note shaped by raised-cosine fades so no sound starts or stops with a click, the
whole scaled to :data:`PEAK` (about −10 dBFS) so it never clips, not even mixed
under a reply at full scale (the speaker clips the sum as a last resort). Made here
from numbers, so nothing is copyrighted and any device rate gets its sounds
without resampling. ``scripts/make_earcons.py`` writes them to ``assets/earcons/``
(48 kHz WAV) to listen to; the tests find them on the virtual speaker by their notes.

The notes are chosen apart: wake rises (660 → 880 Hz), done falls (880 → 660 Hz),
thinking is one soft 523 Hz note, error two low notes (330 → 247 Hz), the timer
three quick 1047 Hz beeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EARCON_NAMES", "MAX_MS", "PEAK", "Note", "NOTES", "synthesize", "duration_ms"]

#: Longest an earcon may last.
MAX_MS = 300
#: Peak amplitude of every earcon (full scale is 1.0): −10.5 dBFS.
PEAK = 0.3
_FADE_IN_MS = 6.0
_FADE_OUT_MS = 20.0
_HARMONIC = 0.2  # amplitude of the second harmonic relative to the fundamental


@dataclass(frozen=True)
class Note:
    """A tone of ``freq_hz`` lasting ``ms``, then ``gap_ms`` of silence."""
    freq_hz: float
    ms: float
    gap_ms: float = 0.0


#: Each earcon's notes, in order.
NOTES: dict[str, tuple[Note, ...]] = {
    "wake": (Note(660.0, 80, 20), Note(880.0, 110)),
    "thinking": (Note(523.25, 120),),
    "done": (Note(880.0, 80, 20), Note(660.0, 110)),
    "error": (Note(330.0, 110, 30), Note(247.0, 150)),
    "timer": (Note(1046.5, 60, 40), Note(1046.5, 60, 40), Note(1046.5, 60)),
}
EARCON_NAMES = tuple(NOTES)


def duration_ms(name: str) -> float:
    """How long earcon ``name`` lasts."""
    return float(sum(n.ms + n.gap_ms for n in NOTES[name]))


def _note(note: Note, sample_rate: int) -> np.ndarray:
    n = max(1, round(note.ms * sample_rate / 1000))
    t = np.arange(n, dtype=np.float64) / sample_rate
    phase = 2.0 * np.pi * note.freq_hz * t
    tone = np.sin(phase) + _HARMONIC * np.sin(2.0 * phase)
    envelope = np.ones(n)
    fade_in = min(n // 2, max(1, round(_FADE_IN_MS * sample_rate / 1000)))
    fade_out = min(n - fade_in, max(1, round(_FADE_OUT_MS * sample_rate / 1000)))
    # Raised cosine from 0 to 1 (and back): the first and last samples are 0.
    envelope[:fade_in] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_in) / fade_in)
    envelope[n - fade_out:] = 0.5 + 0.5 * np.cos(np.pi * (np.arange(fade_out) + 1) / fade_out)
    gap = np.zeros(round(note.gap_ms * sample_rate / 1000))
    return np.concatenate([tone * envelope, gap])


def synthesize(name: str, sample_rate: int) -> np.ndarray:
    """Earcon ``name`` as float32 mono samples at ``sample_rate`` (peak :data:`PEAK`).

    Raises ``KeyError`` for an unknown name (see :data:`EARCON_NAMES`).
    """
    samples = np.concatenate([_note(note, sample_rate) for note in NOTES[name]])
    peak = float(np.max(np.abs(samples)))
    return (samples * (PEAK / peak)).astype(np.float32)
