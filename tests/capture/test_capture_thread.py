"""The microphone's capture thread (``voicebot.capture.worker``) behind ``capture_events``.

Without a device, a scripted stream stands in for PortAudio's blocking reads: the
thread must report exactly what the event loop path reports for the same blocks.
On the PipeWire virtual microphone (marker ``audio``): espeak speech played into
it gives the same utterance boundaries as the file path; muting from the loop
discards promptly; a vanished or stalled device raises ``AudioDeviceError`` on the
loop; closing or cancelling leaves no capture thread running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from capture_truth import CFG, RATE, RecordingDetector, offset_s
from speech import compose
from vdev import play_into_mic, write_wav
from voicebot.audio import float_to_pcm16
from voicebot.capture.listen import capture_events
from voicebot.capture.mic import FileSource, MicrophoneSource
from voicebot.capture.report import CaptureReport
from voicebot.capture.segmenter import SpeechStarted, UtteranceDiscarded, UtteranceEnded
from voicebot.capture.vad import UtteranceDetector
from voicebot.capture.worker import DetectorFeed
from voicebot.errors import AudioDeviceError

THREAD = "vb-capture"


def _capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def _kinds(reports: list[CaptureReport]) -> list[tuple[str, int]]:
    return [(type(r.event).__name__ if r.event is not None else "progress", r.position)
            for r in reports]


# -- without a device: a scripted stream ------------------------------------------------

class _ScriptedStream:
    """Blocking reads of a fixed signal in ``frames`` blocks, then silence until stopped.

    The first ``early_frames`` are read at once (forwarded: nobody processes them
    yet); then reads wait for :attr:`go`. ``read_available`` says how much of the
    signal is already "captured" behind the block just read (all the rest: the
    reads run faster than real time).
    """

    def __init__(self, samples: np.ndarray, early_frames: int) -> None:
        self._samples = samples
        self._pos = 0
        self._early = early_frames
        self.early_done = threading.Event()
        self.go = threading.Event()
        self.finished = threading.Event()
        self.closed = False

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        if self._pos >= self._early:
            self.early_done.set()
            self.go.wait(30)
        block = self._samples[self._pos:self._pos + frames]
        self._pos += len(block)
        if len(block) < frames:
            self.finished.set()
            time.sleep(0.005)  # silence arrives in real time, more or less
            block = np.concatenate([block, np.zeros((frames - len(block), block.shape[1]),
                                                    np.float32)])
        return block, False

    @property
    def read_available(self) -> int:
        return max(0, len(self._samples) - self._pos)

    def close(self, ignore_errors: bool = False) -> None:
        self.closed = True


async def _scripted_reports(samples: np.ndarray, rate: int, block_ms: int, early_blocks: int
                            ) -> tuple[list[CaptureReport], _ScriptedStream]:
    loop = asyncio.get_running_loop()
    mic = MicrophoneSource(None, loop, block_ms=block_ms)
    stream = _ScriptedStream(samples, early_blocks * (rate * block_ms // 1000))
    mic._worker = mic._prepare(rate, samples.shape[1], stream, loop)  # what opening does
    mic._worker.start()
    # Blocks read before capture_events starts wait in the ring, as for blocks().
    await asyncio.to_thread(stream.early_done.wait, 30)
    reports = capture_events(mic, UtteranceDetector())
    first = asyncio.ensure_future(reports.__anext__())
    await asyncio.sleep(0)  # the generator has taken the stream over: let reads go on
    stream.go.set()

    async def stop_when_done() -> None:
        await asyncio.to_thread(stream.finished.wait, 30)
        await asyncio.to_thread(mic.close)

    stopper = asyncio.create_task(stop_when_done())
    got = [await first] + [r async for r in reports]
    await stopper
    return got, stream


@pytest.mark.parametrize("block_ms,early_blocks", [(20, 0), (40, 0), (40, 30), (60, 5)])
def test_the_thread_reports_what_the_loop_path_reports_for_the_same_blocks(
        tmp_path, block_ms: int, early_blocks: int) -> None:  # type: ignore[no-untyped-def]
    x, truth = compose([0.3, "what time is it", 1.2, "what can you do", 1.0], rate=48_000)
    stereo = np.stack([x, 0.5 * x], axis=1).astype(np.float32)
    path = str(tmp_path / "s.wav")
    write_wav(path, x, 48_000)

    async def both() -> tuple[list[CaptureReport], list[CaptureReport], _ScriptedStream]:
        threaded, stream = await _scripted_reports(stereo, 48_000, block_ms, early_blocks)
        # The loop path over the same signal, mono (the thread down-mixes stereo).
        mono = FileSource(path, realtime=False, block_ms=block_ms)
        mono._samples = ((stereo[:, :1] + stereo[:, 1:]) / 2).astype(np.float32)
        on_loop = [r async for r in capture_events(mono, UtteranceDetector())]
        return threaded, on_loop, stream

    threaded, on_loop, stream = asyncio.run(both())
    assert stream.closed and not _capture_threads()
    ended = [r for r in threaded if isinstance(r.event, UtteranceEnded)]
    assert len(ended) == len(truth) == 2
    # Everything up to the last utterance's end is the same, report for report (the
    # thread then goes on with silence until it is stopped; the file just ends).
    last = max(i for i, r in enumerate(on_loop) if isinstance(r.event, UtteranceEnded))
    assert _kinds(threaded[:last + 1]) == _kinds(on_loop[:last + 1])
    assert [r.event for r in threaded[:last + 1]] == [r.event for r in on_loop[:last + 1]]
    assert [r.voiced_end for r in threaded[:last + 1]] == [r.voiced_end for r in on_loop[:last + 1]]


def test_capture_time_is_when_the_sample_was_read_less_what_waits_behind_it() -> None:
    """``at``: the read's time, less the frames already waiting, less what the
    resampler still holds (nothing at 16 kHz; 12-31 ms here at 48 kHz, its filter
    delay and its output granularity)."""
    now = [100.0]

    def reports_for(rate: int) -> list[tuple[CaptureReport, float, int]]:
        x = compose([0.2, "what time is it", 0.2], rate=rate)[0]
        feed = DetectorFeed(UtteranceDetector(), rate, 1, clock=lambda: now[0])
        block = rate * 40 // 1000
        out = []
        for k, first in enumerate(range(0, len(x), block)):
            now[0] = 100.0 + k * 0.04
            available = (k % 3) * 100  # frames that arrived after the block
            for r in feed.feed([x[first:first + block, None]], available):
                out.append((r, now[0] - available / rate, first + len(x[first:first + block])))
        return out

    exact = reports_for(16_000)
    assert exact
    for report, last_frame_at, frames_in in exact:
        # at 16 kHz the sample at `position` is the last one read
        assert report.position == frames_in
        assert report.at == pytest.approx(last_frame_at, abs=1e-9)
    resampled = reports_for(48_000)
    assert resampled
    for report, last_frame_at, _ in resampled:
        assert last_frame_at - 0.040 <= report.at <= last_frame_at  # less than a block


class _Describing:
    """A processor that passes audio through and says "what it made of it"."""

    def __init__(self) -> None:
        self.asked = 0

    def process(self, pcm16_16k: bytes, at: float) -> bytes:
        return pcm16_16k

    def describe_recent(self) -> str:
        self.asked += 1
        return f"judgement {self.asked}"


@pytest.mark.parametrize("verbose", [True, False])
def test_speech_start_logs_what_the_processor_made_of_it(verbose: bool, caplog) -> None:  # type: ignore[no-untyped-def]
    """With ``-v``, each utterance's start logs the processor's description (the echo
    stage's guard decisions: why speech started over a reply); without, it is never asked."""
    x = compose([0.3, "what time is it", 0.6, "and the weather", 0.6], rate=RATE)[0]
    processor = _Describing()
    feed = DetectorFeed(UtteranceDetector(), RATE, 1, processor=processor)
    caplog.set_level(logging.DEBUG if verbose else logging.WARNING, "voicebot.capture.worker")
    starts = 0
    for first in range(0, len(x), 960):
        starts += sum(isinstance(r.event, SpeechStarted)
                      for r in feed.feed([x[first:first + 960, None]], 0))
    assert starts == 2
    logged = [r.getMessage() for r in caplog.records if r.name == "voicebot.capture.worker"]
    if verbose:
        assert logged == [f"speech started over the reply; echo stage: judgement {k}"
                          for k in (1, 2)]
    else:
        assert logged == [] and processor.asked == 0


# -- the virtual microphone -------------------------------------------------------------

async def _until_played(mic: MicrophoneSource, player: subprocess.Popen[bytes],
                        after_s: float) -> None:
    await asyncio.to_thread(player.wait, 30)
    await asyncio.sleep(after_s)
    await asyncio.to_thread(mic.close)


@pytest.mark.audio
def test_utterance_bounds_on_the_mic_are_those_of_the_file_within_a_frame(
        audio_devices, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, truth = compose([0.5, "what time is it", 1.5, "what can you do", 0.5])
    path = str(tmp_path / "played.wav")
    write_wav(path, x, RATE)
    detector = RecordingDetector()

    async def run() -> tuple[list[CaptureReport], float, int]:
        received_at = []
        async with MicrophoneSource(None) as mic:
            stopper = asyncio.create_task(_until_played(mic, play_into_mic(path, wait=False), 1.0))
            reports = []
            async for r in capture_events(mic, detector):
                reports.append(r)
                received_at.append(time.monotonic())
            await stopper
            dropped = mic.dropped_blocks + mic.overflows
        assert all(r.at <= got for r, got in zip(reports, received_at))
        return reports, received_at[-1] if received_at else 0.0, dropped

    reports, _, dropped = asyncio.run(run())
    assert dropped == 0 and not _capture_threads()
    stream = np.frombuffer(bytes(detector.fed), "<i2").astype(np.float64)
    offset = round(offset_s(stream, np.frombuffer(float_to_pcm16(x), "<i2").astype(np.float64))
                   * RATE)
    # The file path, on the played file placed where the microphone heard it (the
    # same VAD frame alignment: a shift by a fraction of a frame moves decisions).
    shifted = str(tmp_path / "shifted.wav")
    write_wav(shifted, np.concatenate([np.zeros(offset, np.float32), x]), RATE)

    async def from_file() -> list[CaptureReport]:
        source = FileSource(shifted, realtime=False)
        return [r async for r in capture_events(source, UtteranceDetector())]

    on_mic = [r.event for r in reports if isinstance(r.event, UtteranceEnded)]
    in_file = [r.event for r in asyncio.run(from_file()) if isinstance(r.event, UtteranceEnded)]
    assert len(on_mic) == len(in_file) == len(truth) == 2
    frame = CFG.frame_samples
    for m, f in zip(on_mic, in_file):
        assert abs(m.start_sample - f.start_sample) <= frame, (m, f, offset)
        assert abs(m.end_sample - f.end_sample) <= frame, (m, f, offset)
    # Capture times follow the samples: 16 kHz positions and `at` advance together
    # (up to the scheduling of reads: a PipeWire quantum, and a loaded machine).
    first, last = reports[0], reports[-1]
    elapsed_samples_s = (last.position - first.position) / RATE
    assert abs((last.at - first.at) - elapsed_samples_s) < 0.25


@pytest.mark.audio
def test_muting_from_the_loop_discards_the_utterance_promptly(audio_devices, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, truth = compose([0.3, "please tell me a short story about the sea", 1.5,
                        "what time is it", 0.5])
    path = str(tmp_path / "played.wav")
    write_wav(path, x, RATE)
    detector = UtteranceDetector()
    first_s = truth[0].end_s - truth[0].start_s

    def unmute() -> None:
        detector.muted = False

    async def run() -> list[tuple[CaptureReport, bool]]:
        seen = []
        async with MicrophoneSource(None) as mic:
            stopper = asyncio.create_task(_until_played(mic, play_into_mic(path, wait=False), 1.0))
            async for r in capture_events(mic, detector):
                seen.append((r, detector.muted))
                if isinstance(r.event, SpeechStarted) and len(seen) == 1:
                    detector.muted = True  # as the driver does when a reply starts
                elif isinstance(r.event, UtteranceDiscarded):
                    # Listen again in the pause after the first sentence.
                    asyncio.get_running_loop().call_later(first_s, unmute)
            await stopper
        return seen

    seen = asyncio.run(run())
    events = [(r.event, r.position) for r, _ in seen if r.event is not None]
    kinds = [type(e).__name__ for e, _ in events]
    assert kinds[:2] == ["SpeechStarted", "UtteranceDiscarded"], kinds
    started_at = events[0][1]
    discarded, discarded_at = events[1]
    assert isinstance(discarded, UtteranceDiscarded) and discarded.reason == "muted"
    # Effective from the next block the capture thread read: the long sentence is
    # cut well before its end (it lasts ~2.5 s), a block or two after the loop muted.
    assert discarded_at - started_at <= 0.25 * RATE
    # Unmuted again, the next sentence is heard as usual.
    assert kinds[2:] == ["SpeechStarted", "UtteranceEnded"], kinds
    assert not _capture_threads()


def _our_capture_node() -> str:
    """The PipeWire node of this process's capture stream."""
    dump = json.loads(subprocess.run(["pw-dump"], capture_output=True, text=True,
                                     check=True).stdout)
    pid = str(os.getpid())
    clients = {str(o["id"]) for o in dump if o.get("type") == "PipeWire:Interface:Client"
               and str(o.get("info", {}).get("props", {}).get("application.process.id")) == pid}
    nodes = [o["id"] for o in dump if o.get("type") == "PipeWire:Interface:Node"
             and str(o.get("info", {}).get("props", {}).get("client.id")) in clients
             and o["info"]["props"].get("media.class") == "Stream/Input/Audio"]
    assert len(nodes) == 1, (pid, clients, nodes)
    return str(nodes[0])


@pytest.mark.audio
def test_a_vanished_stream_is_a_device_error_on_the_loop(audio_devices) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with MicrophoneSource(None) as mic:
            reports = capture_events(mic, UtteranceDetector())
            consumer = asyncio.ensure_future(reports.__anext__())
            await asyncio.sleep(0.5)  # the thread reads: kill its stream under it
            await asyncio.to_thread(subprocess.run,
                                    ["pw-cli", "destroy", _our_capture_node()], check=True)
            await consumer

    with pytest.raises(AudioDeviceError, match="stopped unexpectedly") as info:
        asyncio.run(run())
    assert "\n" not in str(info.value) and "voicebot devices" in str(info.value)
    assert not _capture_threads()


@pytest.fixture
def pipewire_pid() -> Iterator[int]:
    """The PipeWire daemon's pid; it is always let run again after the test."""
    pid = int(subprocess.run(["pgrep", "-x", "pipewire"], capture_output=True, text=True,
                             check=True).stdout.split()[0])
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.audio
def test_a_stalled_device_is_a_device_error_on_the_loop(audio_devices, pipewire_pid) -> None:  # type: ignore[no-untyped-def]
    """PipeWire stops (SIGSTOP) for longer than the stall timeout: the capture thread
    is stuck in a read that nothing can interrupt, and the loop raises by itself."""
    async def run() -> None:
        async with MicrophoneSource(None, stall_timeout_s=1.0) as mic:
            reports = capture_events(mic, UtteranceDetector())
            consumer = asyncio.ensure_future(reports.__anext__())
            await asyncio.sleep(0.5)
            os.kill(pipewire_pid, signal.SIGSTOP)
            try:
                await asyncio.wait_for(consumer, 10)
            finally:
                os.kill(pipewire_pid, signal.SIGCONT)  # the read returns: close() joins
                await reports.aclose()

    with pytest.raises(AudioDeviceError, match="delivered no audio for 1 s") as info:
        asyncio.run(run())
    assert "\n" not in str(info.value)
    assert not _capture_threads()


@pytest.mark.audio
def test_cancelling_the_consumer_stops_the_capture_thread(audio_devices) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[bool, bool]:
        async with MicrophoneSource(None) as mic:
            assert mic._worker is not None
            task = asyncio.create_task(_drain(capture_events(mic, UtteranceDetector())))
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The thread ends after the read in progress, without close().
            ended = await asyncio.to_thread(mic._worker.join, 1.0)
            return ended, bool(_capture_threads())

    ended, still_there = asyncio.run(run())
    assert ended and not still_there
    assert not _capture_threads()


async def _drain(reports: AsyncIterator[CaptureReport]) -> None:
    async for _ in reports:
        pass
