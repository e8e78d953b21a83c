"""Short clips (earcons, a spoken line) mixed over the speaker's reply: a second source.

The speaker's callback pulls the reply from the jitter buffer, then calls
:meth:`ClipMixer.mix_into` on the same block: each playing clip is added to it and
the sum is clipped to ±1 (earcons peak at −10 dBFS, so that is a last resort). A
clip therefore plays at once, under the reply if one plays, without touching the
reply's buffer, its positions or its timing.

Threads: :meth:`ClipMixer.play` runs on the loop thread; it only stores a
reference to samples that are never written again, with a new generation number,
in a fixed slot (a tuple assigned whole under the GIL). :meth:`ClipMixer.mix_into`
runs on the PortAudio callback thread: it allocates no buffer (``np.add`` and
``np.clip`` write in place into the block), never blocks and never logs; it keeps
its read positions in preallocated arrays. Several clips may overlap: up to
:data:`VOICES` at once; a new clip takes the slot whose clip ends first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ClipMixer", "VOICES"]

#: Clips that can play at the same time.
VOICES = 4
_EMPTY = np.zeros(0, np.float32)


class ClipMixer:
    """Mixes up to :data:`VOICES` clips (float32 mono at the device rate) into blocks."""

    def __init__(self) -> None:
        # Loop thread writes a slot whole: (generation, samples). Generation 0: empty.
        self._slots: list[tuple[int, np.ndarray]] = [(0, _EMPTY)] * VOICES
        self._generation = 0
        # Callback thread only: which generation each slot's position belongs to, and
        # the position (samples already mixed). The loop only reads them.
        self._cb_generation = np.zeros(VOICES, np.int64)
        self._cb_position = np.zeros(VOICES, np.int64)

    def play(self, samples: np.ndarray) -> None:
        """Start playing ``samples`` (float32 mono at the device rate) now. Loop thread.

        The array is kept and read until it has played: do not write to it afterwards.
        """
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if len(samples) == 0:
            return
        self._generation += 1
        slot = min(range(VOICES), key=self._left)
        self._slots[slot] = (self._generation, samples)

    def _left(self, slot: int) -> int:
        """Samples slot ``slot`` has still to play (as far as the loop can tell)."""
        generation, samples = self._slots[slot]
        if generation == 0:
            return 0
        played = int(self._cb_position[slot]) if self._cb_generation[slot] == generation else 0
        return max(0, len(samples) - played)

    @property
    def active(self) -> bool:
        """Whether a clip has samples left to play. Loop thread."""
        return any(self._left(slot) > 0 for slot in range(VOICES))

    def mix_into(self, out: np.ndarray) -> bool:
        """Callback thread: add what each clip has for this block to ``out`` (mono,
        float32, in place) and clip the sum to ±1. Returns whether anything was mixed."""
        mixed = False
        frames = len(out)
        for slot in range(VOICES):
            generation, samples = self._slots[slot]
            if generation == 0:
                continue
            if self._cb_generation[slot] != generation:
                self._cb_generation[slot] = generation
                self._cb_position[slot] = 0
            position = int(self._cb_position[slot])
            n = min(frames, len(samples) - position)
            if n <= 0:
                continue
            np.add(out[:n], samples[position:position + n], out=out[:n])
            self._cb_position[slot] = position + n
            mixed = True
        if mixed:
            np.clip(out, -1.0, 1.0, out=out)
        return mixed
