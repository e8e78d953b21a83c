"""Spoken input through the real recogniser (pocketsphinx) and back out as speech."""

from __future__ import annotations

import base64
import datetime as dt

import numpy as np

from conftest import collect, sse_events
from speech import synth
from voicebot.audio.wav import encode_wav


def spoken(text: str, rate: int = 16_000) -> dict:
    x = synth(text, rate)
    x = np.concatenate([np.zeros(rate // 4, np.float32), x, np.zeros(rate // 4, np.float32)])
    wav = encode_wav((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes(), rate)
    return {"role": "user", "content": [{"type": "input_audio", "input_audio": {
        "data": base64.b64encode(wav).decode(), "format": "wav"}}]}


def test_spoken_question_gets_a_spoken_answer(client):
    before = dt.datetime.now().astimezone()
    res = collect(sse_events(client, {"messages": [spoken("what time is it")],
                                      "modalities": ["text", "audio"],
                                      "audio": {"voice": "alloy", "format": "pcm16"},
                                      "stream_options": {"include_usage": True}}))
    after = dt.datetime.now().astimezone()
    said = {f"{t.hour % 12 or 12}:{t.minute:02d}" for t in (before, after)}
    assert any(s in res["transcript"] for s in said), res["transcript"]
    assert len(res["pcm"]) > 24_000  # more than half a second of speech
    assert res["usage"]["prompt_tokens_details"]["audio_tokens"] > 0


def test_spoken_arithmetic(client):
    res = collect(sse_events(client, {"messages": [spoken("what is twelve times seven", 24_000)]}))
    assert f"is {12 * 7}" in res["content"], res["content"]
