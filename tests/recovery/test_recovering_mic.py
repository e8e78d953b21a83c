"""ResilientMicrophone's logic with stand-in streams (no device): losses, back-off,
statuses, muting, and the utterance a loss cuts off.

The stand-in source plays a script: each stream either fails to open, or yields
some reports and then fails (as a vanished device does) or ends (a requested stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import numpy as np
import pytest

from voicebot.audio.backoff import Backoff
from voicebot.capture.report import CaptureReport
from voicebot.capture.segmenter import UtteranceDiscarded
from voicebot.capture.vad import UtteranceDetector
from voicebot.errors import AudioDeviceError
from voicebot.recovery.host import PortAudioHost
from voicebot.recovery.mic import ResilientMicrophone
from voicebot.turntaking.events import DeviceStatus


class Host(PortAudioHost):
    def rescan(self) -> bool:  # never touch the real PortAudio here
        self.rescans += 1
        return True


class FakeSource:
    """One stream of the script: ``opens`` False → opening raises."""

    device_name = "input device 'fake'"
    sample_rate = 16_000

    def __init__(self, opens: bool) -> None:
        self.opens = opens
        self.stream_closed = True

    async def __aenter__(self) -> FakeSource:
        if not self.opens:
            raise AudioDeviceError("no input device 'fake'")
        self.stream_closed = False
        return self

    def close(self) -> None:
        self.stream_closed = True


def scripted(steps: list[str]) -> tuple[Callable[[], FakeSource], Callable[..., AsyncGenerator[CaptureReport, None]], list[str]]:
    """``steps``: per stream, "fail-open", "speak-then-fail", "report-then-fail",
    "report-then-end". Returns (open_source, capture, log)."""
    log: list[str] = []
    queue = list(steps)
    current: list[str] = []

    def open_source() -> FakeSource:
        step = queue.pop(0)
        current[:] = [step]
        log.append(step)
        return FakeSource(step != "fail-open")  # type: ignore[return-value]

    async def capture(mic: object, detector: UtteranceDetector,
                      clock: Callable[[], float]) -> AsyncGenerator[CaptureReport, None]:
        step = current[0]
        if step == "speak-then-fail":
            # Speech begins (as the capture thread would feed it), then the device goes.
            t = np.arange(16_000) / 16_000
            tone = (0.5 * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes()
            for event in detector.feed(bytes(16_000) + tone):
                yield CaptureReport(event, detector.position, clock())
        else:
            yield CaptureReport(None, detector.position, clock())
        if step.endswith("end"):
            return
        raise AudioDeviceError("input device 'fake' stopped unexpectedly")

    return open_source, capture, log  # type: ignore[return-value]


def run(steps: list[str], *, muted: bool = False, elsewhere: list[bool] | None = None
        ) -> tuple[list[CaptureReport], list[DeviceStatus], list[str], Host, UtteranceDetector]:
    statuses: list[DeviceStatus] = []
    open_source, capture, log = scripted(steps)
    host = Host()
    detector = UtteranceDetector(classify=lambda frame: any(frame))

    async def main() -> list[CaptureReport]:
        mic = ResilientMicrophone(None, host=host, on_status=statuses.append,
                                  backoff=Backoff(initial_s=0.001, max_s=0.004),
                                  open_source=open_source,  # type: ignore[arg-type]
                                  capture=capture,  # type: ignore[arg-type]
                                  on_elsewhere=None if elsewhere is None else elsewhere.append)
        await mic.open()
        mic.set_muted(muted)
        got = [r async for r in mic.reports(detector)]
        await mic.aclose()
        return got

    reports = asyncio.run(main())
    return reports, statuses, log, host, detector


def test_a_stream_that_fails_reopens_at_once_quietly() -> None:
    reports, statuses, log, host, _ = run(["report-then-fail", "report-then-end"])
    assert log == ["report-then-fail", "report-then-end"]
    assert len(reports) == 2
    assert statuses == []  # back at the first attempt: nothing to say
    assert host.open_streams == 0 and host.epoch == 1


def test_a_device_that_stays_away_is_reported_with_back_off_then_back() -> None:
    elsewhere: list[bool] = []
    reports, statuses, log, host, _ = run(
        ["report-then-fail", "fail-open", "fail-open", "fail-open", "report-then-end"],
        elsewhere=elsewhere)
    # An echo canceller hears of it: the device it learnt went away, a new one came.
    assert elsewhere[0] is True and elsewhere[-1] is False and set(elsewhere[:-1]) == {True}
    assert [s.state for s in statuses] == ["lost", "lost", "lost", "back"]
    assert [s.retry_in_s for s in statuses] == [0.001, 0.002, 0.004, None]
    assert "stopped unexpectedly" in statuses[0].message  # the loss, not the retry's error
    assert all(s.kind == "input" and "\n" not in s.message for s in statuses)
    assert host.rescans == 3  # nothing open: PortAudio rescanned before each retry
    assert len(reports) == 2 and host.open_streams == 0


def test_the_first_open_fails_fast_without_waiting() -> None:
    with pytest.raises(AudioDeviceError):
        run(["fail-open"])


def test_speech_cut_by_a_loss_is_discarded() -> None:
    reports, _, _, _, detector = run(["speak-then-fail", "report-then-end"])
    discarded = [r.event for r in reports if isinstance(r.event, UtteranceDiscarded)]
    assert discarded and discarded[0].reason == "muted"
    assert not detector.muted  # the conversation's mute state is left as it was


def test_the_conversations_mute_is_kept_across_streams() -> None:
    _, _, _, _, detector = run(["report-then-fail", "report-then-end"], muted=True)
    assert detector.muted
