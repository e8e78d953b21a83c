"""The speaker's output stream runs only around replies (an idle one costs CPU).

On the PipeWire virtual speaker: nothing runs before the first reply; the stream
stops ``linger_ms`` after a reply was heard and starts again for the next one, and
both replies reach the speaker whole (checked in a recording of its monitor).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soxr
from signals import best_lag, describe_mismatch, similarity
from speech import synth
from vdev import SpeakerRecorder

from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16
from voicebot.playback import Speaker


@pytest.mark.audio
def test_the_stream_stops_after_a_reply_and_starts_for_the_next(audio_devices: None) -> None:
    first = 0.8 * synth("The first reply.", API_SAMPLE_RATE)
    second = 0.8 * synth("And here is the second one.", API_SAMPLE_RATE)

    async def play(speaker: Speaker, x: np.ndarray) -> None:
        pcm = float_to_pcm16(x)
        for k in range(0, len(pcm), 4800):  # 100 ms deltas, faster than real time
            speaker.push_pcm16(pcm[k:k + 4800])
            await asyncio.sleep(0.02)
        speaker.end_of_stream()
        await speaker.drained()

    async def run() -> list[tuple[bool, int]]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, loop=loop, linger_ms=200)
        states = [(speaker.running, speaker.stream_starts)]
        try:
            await play(speaker, first)
            states.append((speaker.running, speaker.stream_starts))  # lingering
            await asyncio.sleep(0.6)
            states.append((speaker.running, speaker.stream_starts))  # stopped
            await play(speaker, second)
            states.append((speaker.running, speaker.stream_starts))
            await asyncio.sleep(0.6)
            states.append((speaker.running, speaker.stream_starts))
        finally:
            speaker.close()
        return states

    with SpeakerRecorder() as rec:
        states = asyncio.run(run())

    assert states == [(False, 0), (True, 1), (False, 1), (True, 2), (False, 2)]
    pos = 0
    for x in (first, second):
        reference = soxr.resample(x, API_SAMPLE_RATE, rec.rate).astype(np.float32)
        lag, _ = best_lag(rec.samples[pos:], reference)
        played = rec.samples[pos + lag:pos + lag + len(reference)]
        assert len(played) == len(reference), "the reply's tail was not recorded"
        assert similarity(played, reference) > 0.95, describe_mismatch(played, reference,
                                                                       rec.rate)
        pos += lag + len(reference)
