"""The server over real loopback HTTP: stream shape, schemas, audio, multi-turn, tools."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import wave

import httpx
import numpy as np
import pytest

from serverhelp import collect, sse_events
from voicebot.server.spec import validator_for_component

AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0


def test_audio_stream_order_and_schema(client, chunk_validator):
    events = sse_events(client, {"messages": [user("what is 12 times 7")], **AUDIO,
                                 "stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for c in chunks:
        chunk_validator.validate(c)
    # Without tool calls the chunks also satisfy the seed's schema word for word.
    seed = validator_for_component("ChatCompletionChunk", practical=False)
    for c in chunks:
        seed.validate(c)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    kinds = []
    for c in chunks:
        if not c["choices"]:
            kinds.append("usage")
            continue
        ch = c["choices"][0]
        a = ch["delta"].get("audio", {})
        kinds.append("finish" if "finish_reason" in ch else "transcript" if "transcript" in a
                     else "data" if "data" in a else "expires" if "expires_at" in a else "role")
    # role, transcript before its audio, then finish, expires_at, usage (the order).
    assert kinds[0] == "role" and kinds[1] == "transcript" and kinds[2] == "data"
    assert kinds[-3:] == ["finish", "expires", "usage"]
    res = collect(events)
    assert str(12 * 7) in res["transcript"]
    assert res["finish"] == "stop"
    first_data = next(c for c in chunks if c["choices"] and "data" in
                      c["choices"][0]["delta"].get("audio", {}))
    assert first_data["choices"][0]["delta"]["audio"]["id"] == res["audio_id"]
    assert res["audio_id"].startswith("audio_")
    assert len(res["pcm"]) % 2 == 0 and rms(res["pcm"]) > 0.01
    seconds = len(res["pcm"]) / 2 / 24_000
    assert 0.5 < seconds < 10
    assert 3000 < res["expires_at"] - dt.datetime.now().timestamp() < 3700
    u = res["usage"]
    # Documented estimate: 20 audio tokens per second of reply audio.
    assert u["completion_tokens_details"]["audio_tokens"] == pytest.approx(seconds * 20, abs=1)
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1


def test_text_only_modalities_stream_content(client, chunk_validator):
    events = sse_events(client, {"messages": [user("what can you do")],
                                 "stream_options": {"include_usage": True}})
    res = collect(events)
    for c in events[:-1]:
        chunk_validator.validate(c)
        for ch in c["choices"]:
            assert "audio" not in ch["delta"]
    assert "time" in res["content"] and res["pcm"] == b"" and res["audio_id"] is None
    assert res["usage"]["completion_tokens_details"]["audio_tokens"] == 0


def test_time_answer_is_the_local_time(client):
    before = dt.datetime.now().astimezone()
    res = collect(sse_events(client, {"messages": [user("what time is it")]}))
    after = dt.datetime.now().astimezone()
    said = {f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"
            for t in (before, after)}
    assert any(s in res["content"] for s in said), res["content"]


@pytest.mark.parametrize("fmt", ["wav", "pcm16"])
def test_non_stream_response(client, response_validator, fmt):
    body = {"messages": [user("say hello there")], "stream": False,
            "modalities": ["text", "audio"], "audio": {"voice": "echo", "format": fmt}}
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 200
    doc = r.json()
    response_validator.validate(doc)
    msg = doc["choices"][0]["message"]
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert msg["audio"]["transcript"] == "hello there."
    data = base64.b64decode(msg["audio"]["data"])
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
            pcm = w.readframes(w.getnframes())
    else:
        pcm = data
    assert rms(pcm) > 0.01
    # The same request streamed gives the same speech (espeak varies by a few samples).
    streamed = collect(sse_events(client, {**body, "stream": True,
                                           "audio": {"voice": "echo", "format": "pcm16"}}))
    assert len(streamed["pcm"]) == pytest.approx(len(pcm), rel=0.02)


def test_voices_sound_different(client):
    pcm = {v: collect(sse_events(client, {"messages": [user("say good morning")],
                                          **AUDIO, "audio": {"voice": v}}))["pcm"]
           for v in ("alloy", "onyx")}
    assert pcm["alloy"] != pcm["onyx"]


def test_spoken_reply_is_referenced_by_audio_id(client):
    first = collect(sse_events(client, {"messages": [user("what is 6 times 7")], **AUDIO}))
    history = [user("what is 6 times 7"), {"role": "assistant", "audio": {"id": first["audio_id"]}},
               user("say that again")]
    again = collect(sse_events(client, {"messages": history, **AUDIO}))
    assert again["transcript"] == first["transcript"]
    # The seed's shape of the same message (role "system" with audio) works too.
    history[1] = {"role": "system", "content": "", "audio": {"id": first["audio_id"]}}
    assert collect(sse_events(client, {"messages": history}))["content"] == first["transcript"]


def test_unknown_audio_id_is_400(client):
    body = {"messages": [user("hi"), {"role": "assistant", "audio": {"id": "audio_nope"}},
                         user("say that again")]}
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "messages[1].audio.id" and err["code"] == "audio_not_found"


def test_tool_call_round_trip(client, chunk_validator):
    messages = [user("What's the weather in Paris in celsius?")]
    events = sse_events(client, {"messages": messages, "tools": [WEATHER], **AUDIO})
    for c in events[:-1]:
        chunk_validator.validate(c)
    res = collect(events)
    assert res["finish"] == "tool_calls" and res["pcm"] == b""
    (call,) = res["tool_calls"]
    assert call["index"] == 0 and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Paris", "unit": "celsius"}
    result = {"temperature": 21, "sky": "clear"}
    messages += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": call["id"], "type": "function", "function": call["function"]}]},
                 {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}]
    spoken = collect(sse_events(client, {"messages": messages, "tools": [WEATHER], **AUDIO}))
    assert spoken["finish"] == "stop"
    assert str(result["temperature"]) in spoken["transcript"]
    assert result["sky"] in spoken["transcript"] and rms(spoken["pcm"]) > 0.01


def test_tool_call_non_stream_and_seed_shape(client, response_validator):
    body = {"messages": [user("weather in Oslo please")], "tools": [WEATHER], "stream": False}
    doc = client.post("/chat/completions", json=body).json()
    response_validator.validate(doc)
    (call,) = doc["choices"][0]["message"]["tool_calls"]
    assert doc["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(call["function"]["arguments"])["location"] == "Oslo"
    # The seed sends tool_calls as one object, not an array: accepted.
    body["messages"] += [{"role": "assistant", "content": "", "tool_calls": call},
                         {"role": "tool", "tool_call_id": call["id"], "content": "snowing"}]
    doc = client.post("/chat/completions", json=body).json()
    assert "snowing" in doc["choices"][0]["message"]["content"]


def test_tool_choice_none_answers_without_tools(client):
    res = collect(sse_events(client, {"messages": [user("weather in Oslo")], "tools": [WEATHER],
                                      "tool_choice": "none"}))
    assert res["finish"] == "stop" and not res["tool_calls"]


def test_json_schema_response_format(client):
    schema = {"type": "object", "properties": {"answer": {"type": "string"},
                                               "value": {"type": "integer"}},
              "required": ["answer", "value"], "additionalProperties": False}
    body = {"messages": [user("what is 9 times 8")], "stream": False,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "calc", "schema": schema}}}
    doc = client.post("/chat/completions", json=body).json()
    value = json.loads(doc["choices"][0]["message"]["content"])
    import jsonschema
    jsonschema.validate(value, schema)
    assert value["value"] == 9 * 8 and str(9 * 8) in value["answer"]


def test_image_data_url_is_acknowledged(client):
    import struct
    import zlib
    w, h = 7, 3
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    content = [{"type": "text", "text": "what is this"},
               {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]
    res = collect(sse_events(client, {"messages": [{"role": "user", "content": content}]}))
    assert f"PNG image of {w} by {h} pixels" in res["content"]
    remote = [{"type": "image_url", "image_url": "https://example.com/cat.jpg"}]
    res = collect(sse_events(client, {"messages": [{"role": "user", "content": remote}]}))
    assert "example.com" in res["content"] and "don't fetch" in res["content"]


def test_ssml_break_renders_and_transcript_is_plain(client):
    def ask(ssml: str) -> dict:
        return collect(sse_events(client, {"messages": [user(ssml)], "ssml_enabled": True,
                                           **AUDIO}))
    pause_s = 1.5
    plain = ask("<speak>repeat after me one two</speak>")
    paused = ask(f'<speak>repeat after me one <break time="{int(pause_s * 1000)}ms"/> two'
                 "</speak>")
    assert plain["transcript"] == paused["transcript"] == "one two"
    extra_s = (len(paused["pcm"]) - len(plain["pcm"])) / 2 / 24_000
    assert extra_s == pytest.approx(pause_s, abs=0.3)


def test_concurrent_streams_interleave(server):
    import threading
    import time
    text = "say " + " ".join(f"Sentence number {i} is here." for i in range(20))
    spans: list[tuple[float, float]] = []

    barrier = threading.Barrier(3)

    def run() -> None:
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            t0 = None
            barrier.wait()
            with c.stream("POST", "/chat/completions",
                          json={"messages": [user(text)], **AUDIO}) as r:
                for line in r.iter_lines():
                    if '"data"' in line and t0 is None:
                        t0 = time.monotonic()
            spans.append((t0, time.monotonic()))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spans) == 3
    # Every stream had sent audio before any stream finished: they ran side by side.
    assert max(s for s, _ in spans) < min(e for _, e in spans)
