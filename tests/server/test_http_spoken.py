"""Spoken input through the real recogniser (pocketsphinx) and back out as speech."""

from __future__ import annotations

import datetime as dt

from serverhelp import collect, spoken, sse_events


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
