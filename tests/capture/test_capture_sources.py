"""The I/O edges: FileSource (paced and fast), utterances(), and the real microphone.

The microphone tests play espeak speech into the PipeWire virtual mic
(``vdev.play_into_mic``) and capture the default input device. The delay between
starting the stream and the sound arriving is unknown, so it is measured: the
captured stream is cross-correlated with the played signal, and the utterances
are then checked against the ground truth shifted by that measured offset.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time

import numpy as np
import pytest

from capture_truth import CFG, RATE, RecordingDetector, check_bounds, offset_s
from speech import compose
from vdev import play_into_mic, write_wav
from voicebot.audio import decode_wav, float_to_pcm16
from voicebot.capture.listen import Utterance, capture_events, utterance_wav, utterances
from voicebot.capture.mic import FileSource, MicrophoneSource
from voicebot.capture.segmenter import SpeechStarted, UtteranceEnded
from voicebot.capture.vad import UtteranceDetector
from voicebot.errors import AudioDeviceError, InputFileError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _make_assets_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_assets", os.path.join(ROOT, "scripts", "make_assets.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


async def _collect(source, detector=None) -> list[Utterance]:  # type: ignore[no-untyped-def]
    return [u async for u in utterances(source, detector or UtteranceDetector())]


def _as_ended(u: Utterance) -> UtteranceEnded:
    return UtteranceEnded(u.pcm16, round(u.start_s * RATE), round(u.end_s * RATE), "silence")


# -- FileSource ----------------------------------------------------------------------

def test_file_source_fast_yields_the_whole_file_quickly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = compose([0.2, "what time is it", 0.3], rate=48_000)
    path = str(tmp_path / "s.wav")
    write_wav(path, x, 48_000)

    async def run() -> tuple[np.ndarray, float]:
        src = FileSource(path, realtime=False, block_ms=20)
        t0 = time.monotonic()
        blocks = [b async for b in src.blocks()]
        assert all(b.shape == (960, 1) for b in blocks[:-1])
        return np.concatenate(blocks)[:, 0], time.monotonic() - t0

    got, elapsed = asyncio.run(run())
    assert np.array_equal(got, np.frombuffer(float_to_pcm16(x), "<i2") / np.float32(32768))
    assert elapsed < 0.5 * len(x) / 48_000


def test_file_source_paced_runs_in_real_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "one-second.wav")
    write_wav(path, np.zeros(16_000, np.float32), 16_000)

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        src = FileSource(path, realtime=True, block_ms=100)
        t0 = loop.time()
        return [loop.time() - t0 async for _ in src.blocks()]

    arrivals = asyncio.run(run())
    # block k (100 ms) is delivered once it "has been captured": at (k+1) * 100 ms
    assert len(arrivals) == 10
    for k, t in enumerate(arrivals):
        assert (k + 1) * 0.1 - 0.005 <= t <= (k + 1) * 0.1 + 0.08, (k, t)


def test_file_source_missing_file_names_it() -> None:
    with pytest.raises(InputFileError, match="nope.wav"):
        FileSource("/nonexistent/nope.wav", realtime=False)


def test_conversation_asset_gives_its_turns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_assets = _make_assets_module()
    parts = make_assets.ASSETS["conversation.wav"]
    x, truth = compose(parts, make_assets.RATE)
    shipped = os.path.join(ROOT, "assets", "conversation.wav")
    assert os.path.getsize(shipped) < 300_000
    found = asyncio.run(_collect(FileSource(shipped, realtime=False)))
    assert len(found) == len(truth) == 2
    for u, spoken in zip(found, truth):
        check_bounds(_as_ended(u), spoken, None)
        wav = utterance_wav(u)
        samples, info = decode_wav(wav)
        assert (info.sample_rate, info.channels) == (16_000, 1)
        assert float_to_pcm16(samples[:, 0]) == u.pcm16


def test_file_source_at_48k_stereo_like_a_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A 48 kHz file goes through the converter: same bounds as at 16 kHz, one frame slack."""
    x, truth = compose([0.4, "what time is it", 1.5, "what can you do", 0.8], rate=48_000)
    path = str(tmp_path / "48k.wav")
    write_wav(path, x, 48_000)
    found = asyncio.run(_collect(FileSource(path, realtime=False)))
    assert len(found) == 2
    for u, spoken in zip(found, truth):
        check_bounds(_as_ended(u), spoken, None, slack_ms=CFG.frame_ms)


def test_capture_events_report_speech_start_before_the_utterance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list:
        src = FileSource(os.path.join(ROOT, "assets", "what-time-is-it.wav"), realtime=False)
        return [r async for r in capture_events(src, UtteranceDetector())]

    reports = asyncio.run(run())
    events = [r.event for r in reports if r.event is not None]
    assert [type(e) for e in events] == [SpeechStarted, UtteranceEnded]
    assert events[0].start_sample == events[1].start_sample
    # Progress comes only inside speech: between the start and the end, block by block.
    kinds = ["progress" if r.event is None else type(r.event).__name__ for r in reports]
    first, last = kinds.index("SpeechStarted"), kinds.index("UtteranceEnded")
    assert set(kinds[:first]) == set() and set(kinds[last + 1:]) == set()
    assert kinds[first + 1:last] and set(kinds[first + 1:last]) == {"progress"}
    positions = [r.position for r in reports]
    assert positions == sorted(positions)


# -- the real (virtual) microphone ----------------------------------------------------

@pytest.mark.audio
def test_microphone_captures_played_speech(audio_devices, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, truth = compose([0.3, "what time is it", 1.5, "what can you do", 0.5])
    path = str(tmp_path / "played.wav")
    write_wav(path, x, RATE)
    detector = RecordingDetector()

    async def run() -> tuple[list[Utterance], MicrophoneSource]:
        async with MicrophoneSource(None) as mic:
            player = play_into_mic(path, wait=False)

            async def stop_after_playback() -> None:
                await asyncio.to_thread(player.wait, 30)
                await asyncio.sleep(1.0)  # > hang-over: the last turn ends first
                await asyncio.to_thread(mic.close)

            stopper = asyncio.create_task(stop_after_playback())
            found = await _collect(mic, detector)
            await stopper
        return found, mic

    found, mic = asyncio.run(run())
    assert mic.sample_rate > 0 and mic.channels in (1, 2)
    assert mic.overflows == 0 and mic.dropped_blocks == 0
    stream = np.frombuffer(bytes(detector.fed), "<i2").astype(np.float64)
    offset = offset_s(stream, np.frombuffer(float_to_pcm16(x), "<i2").astype(np.float64))
    print(f"measured: played file starts {offset * 1000:.1f} ms into the captured stream")
    assert 0 <= offset < 2.0
    assert len(found) == 2
    # the resampling chain (16k → 48k sink → device rate → 16k) may move a VAD
    # decision by one frame
    slack = CFG.frame_ms
    for u, spoken in zip(found, truth):
        shifted = UtteranceEnded(u.pcm16, round((u.start_s - offset) * RATE),
                                 round((u.end_s - offset) * RATE), u.reason)
        check_bounds(shifted, spoken, None, slack_ms=slack)
    # relative timing needs no offset at all
    gap_ms = (found[1].start_s - found[0].start_s) * 1000
    true_gap_ms = (truth[1].start_s - truth[0].start_s) * 1000
    assert abs(gap_ms - true_gap_ms) <= CFG.frame_ms + slack
    for u, spoken in zip(found, truth):
        extra_ms = u.duration_s * 1000 - (spoken.end_s - spoken.start_s) * 1000
        assert 0 - slack <= extra_ms <= CFG.preroll_ms + CFG.frame_ms + CFG.tail_ms + 150 + slack


@pytest.mark.audio
def test_microphone_drops_oldest_blocks_when_nobody_pulls(audio_devices) -> None:  # type: ignore[no-untyped-def]
    async def run() -> tuple[int, int]:
        async with MicrophoneSource(None, block_ms=20, max_queued_ms=100) as mic:
            await asyncio.sleep(0.5)  # nobody pulls: 25 blocks arrive, 5 fit
            queued = mic.queued_blocks
            return queued, mic.dropped_blocks

    queued, dropped = asyncio.run(run())
    assert queued == 5
    assert dropped >= 10


@pytest.mark.audio
def test_unknown_microphone_is_a_device_error(audio_devices) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with MicrophoneSource("no such microphone"):
            pass

    with pytest.raises(AudioDeviceError, match="voicebot devices") as info:
        asyncio.run(run())
    assert "no such microphone" in str(info.value)
    assert "\n" not in str(info.value)
