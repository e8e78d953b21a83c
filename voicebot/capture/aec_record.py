"""The echo canceller's recent judgements, for saying why speech started over a reply. Pure.

No I/O, no clock. The canceller adds one :class:`BlockJudgement` per block it
cancels (the lists it has already made for the block: no copies, no per-frame
work); :meth:`JudgementRecord.describe` turns the last frames into one line for
a ``-v`` log: for each frame how much the canceller removed (dB), how far the
microphone stood above the loudest echo the guard expected (dB), and whether
the guard let it through.

Why: an assistant that interrupts its own reply through the speakers does so
rarely (a moved echo path, a sound server that missed a deadline), and only the
canceller knows whether the "speech" was its own echo leaking or a talker. The
line costs nothing until speech starts over a reply.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["BlockJudgement", "JudgementRecord"]


@dataclass(frozen=True)
class BlockJudgement:
    """One cancelled block's frames. Powers are sums of squares of PCM16 samples
    per frame; ``frames`` are the frame indexes judged (dropouts are not);
    ``admitted[i]`` is the guard's decision for ``frames[i]``."""

    first_sample: int  # the block's first sample on the microphone's clock
    mic_power: list[float]
    out_power: list[float]
    reference_power: list[float]  # the loudest reference whose echo can be in the frame
    frames: list[int]
    admitted: list[bool]
    erl: float | None  # the guard's learnt echo level (None: not learnt yet)
    delay_samples: int | None
    young: bool


def _db(ratio: float) -> float:
    return 10 * math.log10(ratio) if ratio > 0 else -math.inf


def _whole(db: float, sign: str = "") -> str:
    """``db`` to the nearest whole dB ("-0" is "0"; "inf" when unbounded)."""
    return f"{db:{sign}.0f}" if math.isinf(db) else f"{round(db):{sign}d}"


class JudgementRecord:
    """The last ``max_blocks`` blocks' judgements, oldest first. One thread (the
    capture thread that owns the canceller)."""

    def __init__(self, max_blocks: int = 16) -> None:
        self._blocks: deque[BlockJudgement] = deque(maxlen=max_blocks)

    def add(self, block: BlockJudgement) -> None:
        self._blocks.append(block)

    def clear(self) -> None:
        self._blocks.clear()

    def describe(self, frames: int, sample_rate: int = 16_000) -> str:
        """The last ``frames`` frames judged, newest last, as one line, or "" if none:
        ``removed/over`` dB per frame (``over``: the microphone against the loudest
        echo expected, "?" before it is learnt), ``x`` after a silenced frame."""
        parts: list[str] = []
        last: BlockJudgement | None = None
        for block in reversed(self._blocks):
            last = last or block
            for j, admitted in zip(reversed(block.frames), reversed(block.admitted)):
                mic, out = block.mic_power[j], block.out_power[j]
                removed = _whole(_db(mic / out) if out > 0 else math.inf)
                expected = (block.erl or 0.0) * block.reference_power[j]
                over = _whole(_db(mic / expected), "+") if expected > 0 else "?"
                parts.append(f"{removed}/{over}{'' if admitted else 'x'}")
                if len(parts) == frames:
                    break
            if len(parts) == frames:
                break
        if last is None:
            return ""
        delay = ("not measured" if last.delay_samples is None
                 else f"{last.delay_samples * 1000 / sample_rate:.1f} ms")
        erl = "not learnt" if last.erl is None else f"{_db(last.erl):.1f} dB"
        return (f"delay {delay}, echo level {erl}{', young filter' if last.young else ''}; "
                f"last {len(parts)} frames removed/over-echo dB (x: silenced): "
                + " ".join(reversed(parts)))
