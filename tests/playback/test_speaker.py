"""Speaker on the PipeWire virtual speaker, checked against a recording of its monitor.

The played signal is espeak-ng speech at the API's 24 kHz followed by a chirp marker,
so the recording must contain the reply through its very last samples. Expected audio
is the source itself (resampled to the recorder's rate), never what Speaker produced.
"""

from __future__ import annotations

import asyncio
import random
import time

import numpy as np
import pytest
import soxr
from speech import synth
from signals import best_lag, describe_mismatch, similarity
from vdev import SpeakerRecorder

from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16
from voicebot.capture.reference import ReferenceRing
from voicebot.errors import AudioDeviceError
from voicebot.playback.jitter import PlaybackState
from voicebot.playback.sinks import Sink
from voicebot.playback.speaker import Speaker

MARKER_S = 0.08


def reply_signal() -> np.ndarray:
    """Speech, then an 80 ms 2→6 kHz chirp ending at full amplitude: the last samples
    are distinctive, so losing the tail shows in the marker's correlation."""
    speech = synth("One two three, testing.", API_SAMPLE_RATE)
    t = np.arange(int(MARKER_S * API_SAMPLE_RATE)) / API_SAMPLE_RATE
    chirp = 0.5 * np.sin(2 * np.pi * (2000 * t + 0.5 * (4000 / MARKER_S) * t * t))
    gap = np.zeros(int(0.05 * API_SAMPLE_RATE))
    return np.concatenate([0.8 * speech / np.abs(speech).max(), gap, chirp]).astype(np.float32)


def random_chunks(pcm: bytes, seed: int) -> list[bytes]:
    """Cut like a server might: arbitrary sizes, often on half a sample."""
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(pcm):
        k = rng.randint(1, 9601)
        out.append(pcm[i:i + k])
        i += k
    return out


@pytest.mark.audio
@pytest.mark.parametrize("channels", [None, 2])
def test_plays_the_whole_reply_through_its_last_sample(audio_devices: None,
                                                       channels: int | None) -> None:
    x = reply_signal()
    duration_s = len(x) / API_SAMPLE_RATE

    async def play() -> tuple[Speaker, float]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, prebuffer_ms=80, loop=loop, channels=channels)
        try:
            start = loop.time()
            for chunk in random_chunks(float_to_pcm16(x), seed=7):  # faster than real time
                speaker.push_pcm16(chunk)
                await asyncio.sleep(0)
            speaker.end_of_stream()
            await speaker.drained()
            elapsed = loop.time() - start
        finally:
            speaker.close()
        return speaker, elapsed

    with SpeakerRecorder() as rec:
        speaker, elapsed = asyncio.run(play())

    assert speaker.underruns == 0
    assert speaker.jitter.finished and speaker.frames_played == speaker.frames_received
    # resampling 24 kHz → device rate neither loses nor adds samples (flushed tail)
    assert abs(speaker.frames_received - len(x) * speaker.sample_rate / API_SAMPLE_RATE) <= 1
    # drained() waits for real-time playback of every sample, and not much longer
    assert duration_s <= elapsed < duration_s + 0.5
    assert speaker.first_push_at is not None and speaker.first_sample_played_at is not None
    assert speaker.first_sample_played_at >= speaker.first_push_at

    reference = soxr.resample(x, API_SAMPLE_RATE, rec.rate).astype(np.float32)
    offset, _ = best_lag(rec.samples, reference)
    assert offset + len(reference) <= len(rec.samples), "the tail was not recorded"
    played = rec.samples[offset:offset + len(reference)]
    assert similarity(played, reference) > 0.95, (
        f"{speaker.xruns} device underflows; {describe_mismatch(played, reference, rec.rate)}")
    marker = int(MARKER_S * rec.rate)
    assert similarity(played[-marker:], reference[-marker:]) > 0.95
    last_10ms = rec.rate // 100
    assert similarity(played[-last_10ms:], reference[-last_10ms:]) > 0.9


@pytest.mark.audio
def test_cancel_then_next_reply(audio_devices: None) -> None:
    x = reply_signal()
    pcm = float_to_pcm16(x)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        speaker = Speaker(prebuffer_ms=60, loop=loop)
        assert isinstance(speaker, Sink)
        try:
            speaker.push_pcm16(pcm)
            await asyncio.sleep(0.3)
            assert speaker.jitter.state is PlaybackState.PLAYING
            before = loop.time()
            speaker.cancel()
            speaker.end_of_stream()             # harmless after cancel: no new reply
            await speaker.drained()
            # the rest of a ~2 s reply is dropped: drained is quick, nothing left queued
            assert loop.time() - before < 0.25
            assert speaker.jitter.cancelled and speaker.jitter.buffered_frames == 0
            assert speaker.frames_played < speaker.frames_received

            short = pcm[: len(pcm) // 20]       # shorter than the prebuffer? it still plays
            speaker.push_pcm16(short)
            assert speaker.frames_played == 0 and not speaker.jitter.cancelled
            speaker.end_of_stream()
            await speaker.drained()
            assert speaker.jitter.finished and speaker.underruns == 0
            assert speaker.first_sample_played_at is not None
        finally:
            speaker.close()

    asyncio.run(run())


@pytest.mark.audio
def test_cancel_silences_the_speaker_at_once_and_the_position_and_tap_stop_there(
        audio_devices: None) -> None:
    """cancel() aborts the stream: what PortAudio and PipeWire had queued is dropped.
    A steady tone, cancelled 0.6 s in: its last sound on the speaker's monitor comes
    within 25 ms of the call (1-5 ms measured here; 50 ms when the callback only stops
    feeding it, plus the fade), the playback position stops at the cut and agrees with
    the recording, and the tap marks the unplayed rest as silence."""
    t = np.arange(3 * API_SAMPLE_RATE) / API_SAMPLE_RATE
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    async def play() -> tuple[float, float, int, int, list[bool]]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, prebuffer_ms=60, loop=loop)
        ring = ReferenceRing(speaker.sample_rate)
        speaker.tap_reference(ring)
        try:
            speaker.push_pcm16(float_to_pcm16(tone))
            await asyncio.sleep(0.6)
            first = speaker.first_sound_at
            assert first is not None and speaker.running
            speaker.cancel()
            cancelled_at = time.monotonic()
            heard = speaker.heard_samples(cancelled_at)
            await speaker.drained()
            assert time.monotonic() - cancelled_at < 0.05 and not speaker.running
            await asyncio.sleep(0.3)
            assert speaker.heard_samples(time.monotonic()) == heard
            cuts = [run.cut for run in ring.read_new()]
        finally:
            speaker.close()
        return first, cancelled_at, heard, speaker.sample_rate, cuts

    with SpeakerRecorder() as rec:
        first, cancelled_at, heard, rate, cuts = asyncio.run(play())
    loud = np.flatnonzero(np.abs(rec.samples) > 0.05)
    sounded_s = (loud[-1] - loud[0]) / rec.rate
    last_sound_after_ms = (first + sounded_s - cancelled_at) * 1000
    print(f"last sound {last_sound_after_ms:.1f} ms after cancel(); heard "
          f"{heard / API_SAMPLE_RATE:.3f} s, recorded {sounded_s:.3f} s")
    assert -5 < last_sound_after_ms < 25
    assert abs(heard / API_SAMPLE_RATE - sounded_s) < 0.025
    assert cuts[-1] is True and cuts.count(True) == 1


@pytest.mark.audio
def test_unknown_device_is_an_audio_device_error(audio_devices: None) -> None:
    async def run() -> None:
        Speaker("no-such-output-device-xyz")

    with pytest.raises(AudioDeviceError) as info:
        asyncio.run(run())
    assert "no-such-output-device-xyz" in str(info.value)
    assert "\n" not in str(info.value)
