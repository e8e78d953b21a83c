"""The capture tap the wake word rides on: every converted block, in order, with its
position, none while muted; and WakeTap's detections reaching the loop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speech import compose
from vdev import write_wav
from voicebot.capture.listen import capture_events
from voicebot.capture.mic import FileSource
from voicebot.capture.vad import UtteranceDetector
from voicebot.kiosk.listen import WakeTap
from voicebot.kiosk.wakeword import WakeDetection, WakePlaced, WakeRun


def test_tap_sees_every_block_in_order(tmp_path: Path) -> None:
    x, _ = compose([0.5, "what time is it", 0.8], 16_000)
    path = tmp_path / "said.wav"
    write_wav(str(path), x, 16_000)
    detector = UtteranceDetector()
    seen: list[tuple[int, int, bool]] = []

    def tap(pcm: bytes, position: int, voiced: bool) -> None:
        seen.append((position, len(pcm) // 2, voiced))

    async def main() -> None:
        async for _ in capture_events(FileSource(path, realtime=False), detector, tap=tap):
            pass

    asyncio.run(main())
    ends = [p + n for p, n, _ in seen]
    assert all(seen[i + 1][0] == ends[i] for i in range(len(seen) - 1))  # contiguous
    assert seen[0][0] == 0 and ends[-1] >= len(x) - 320
    assert any(v for _, _, v in seen) and not seen[0][2]  # speech heard, not at first


def test_tap_is_not_called_while_muted(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    write_wav(str(path), np.zeros(16_000, np.float32), 16_000)
    detector = UtteranceDetector()
    detector.muted = True
    calls: list[int] = []

    async def main() -> None:
        async for _ in capture_events(FileSource(path, realtime=False), detector,
                                      tap=lambda pcm, position, voiced: calls.append(position)):
            pass

    asyncio.run(main())
    assert calls == []


class _Detector:
    """Stands in for WakeWordDetector: one detection in the block holding sample 16000,
    its end placed again in the block holding sample 20000, the run of speech over in
    the block holding sample 24000."""

    _placed = False
    _ended = False

    def feed(self, samples: np.ndarray, position: int, voiced: bool) -> list[WakeDetection]:
        assert samples.dtype == np.dtype("<i2")
        if position <= 16_000 < position + len(samples):
            return [WakeDetection("hey_jarvis", 16_000, 0.9)]
        self._placed = position <= 20_000 < position + len(samples)
        self._ended = position <= 24_000 < position + len(samples)
        return []

    def placed(self) -> list[WakePlaced]:
        return [WakePlaced("hey_jarvis", 15_000)] if self._placed else []

    def runs(self) -> list[WakeRun]:
        return [WakeRun(0, 24_000, 0.9, 16_000, 18, 0.5)] if self._ended else []


def test_wake_tap_posts_detections_to_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voicebot.kiosk.listen")
    got: list[tuple[Any, ...]] = []
    ends: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tap = WakeTap(_Detector(), loop, lambda *a: got.append(a), ends.append,  # type: ignore[arg-type]
                      clock=lambda: 100.0)
        block = bytes(960 * 2)
        for position in range(0, 32_000, 960):
            await asyncio.to_thread(tap, block, position, True)  # from another thread
        await asyncio.sleep(0)
        assert tap.detections == 1

    asyncio.run(main())
    (name, position, at), = got
    assert name == "hey_jarvis" and position == 16_000
    assert at == 100.0 - (16_320 - 16_000) / 16_000  # the block ended at 16320
    assert ends == [15_000]  # the end placed again, later
    # With -v, a line per run of speech says how near the model came.
    assert [r.getMessage() for r in caplog.records] == [
        "wake word: speech at 0.00-1.50 s of capture, best score 0.90 at 1.00 s "
        "(fires at 0.50), 18 chunks"]
