"""The canceller's recent judgements, described in one line for a ``-v`` log."""

from __future__ import annotations

import ast
import inspect
import math

import voicebot.capture.aec_record as aec_record
from voicebot.capture.aec_record import BlockJudgement, JudgementRecord


def test_imports_nothing_beyond_the_standard_library() -> None:
    tree = ast.parse(inspect.getsource(aec_record))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "math", "collections", "dataclasses"}, imported


def _block(first: int, mic: list[float], out: list[float], ref: list[float],
           admitted: list[bool], erl: float | None = 0.1, frames: list[int] | None = None,
           delay: int | None = 640, young: bool = False) -> BlockJudgement:
    frames = list(range(len(mic))) if frames is None else frames
    return BlockJudgement(first, mic, out, ref, frames, admitted, erl, delay, young)


def _db(x: float) -> float:
    return 10 * math.log10(x)


def test_nothing_recorded_says_nothing() -> None:
    assert JudgementRecord().describe(10) == ""


def test_each_frame_says_what_was_removed_and_how_far_above_the_expected_echo() -> None:
    record = JudgementRecord()
    # Frame 0: echo cancelled (30 dB removed), at the expected echo's level.
    # Frame 1: a talker, 6 dB over the expected echo, little removed: passed.
    # Frame 2: leaking echo, 3 dB removed, 1 dB under the expected echo: silenced.
    mic = [1e6, 4e6, 0.8e6]
    out = [1e3, 2e6, 0.4e6]
    ref = [1e7, 1e7, 1e7]
    record.add(_block(0, mic, out, ref, [True, True, False], erl=0.1))
    line = record.describe(3)
    expected = [f"{round(_db(m / o))}/{round(_db(m / (0.1 * r))):+d}"
                for m, o, r in zip(mic, out, ref)]
    assert line.endswith(f"{expected[0]} {expected[1]} {expected[2]}x"), line
    assert "delay 40.0 ms" in line and f"echo level {_db(0.1):.1f} dB" in line
    assert "young" not in line


def test_the_last_frames_span_blocks_newest_last_and_skip_dropouts() -> None:
    record = JudgementRecord()
    for b in range(4):
        # Frame 1 of each block was a dropout (not judged): only frames 0 and 2 count.
        mic = [10.0 ** (b * 3 + f) for f in range(3)]
        record.add(_block(b * 960, mic, [1.0] * 3, [1.0] * 3, [True, True], frames=[0, 2]))
    line = record.describe(5)
    removed = [int(part.split("/")[0]) for part in line.rsplit("): ", 1)[1].split()]
    # Blocks 1-3's judged frames (3, 5, 6, 8, 9, 11 tenths of a bel), the last five.
    assert removed == [50, 60, 80, 90, 110], line
    assert "last 5 frames" in line


def test_before_the_echo_is_learnt_and_measured() -> None:
    record = JudgementRecord()
    record.add(_block(0, [100.0], [0.0], [5.0], [True], erl=None, delay=None, young=True))
    line = record.describe(4)
    assert "delay not measured" in line and "echo level not learnt" in line
    assert "young filter" in line
    assert line.endswith("inf/?"), line


def test_only_the_last_blocks_are_kept() -> None:
    record = JudgementRecord(max_blocks=2)
    for b in range(5):
        record.add(_block(b, [10.0 ** (b + 1)], [1.0], [1.0], [True]))
    assert record.describe(10).endswith(": 40/+50 50/+60"), record.describe(10)
    record.clear()
    assert record.describe(10) == ""
