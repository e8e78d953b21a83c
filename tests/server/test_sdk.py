"""The official ``openai`` SDK, used as its users use it, against the real local server.

Sync and async clients, with ``base_url=".../v1"`` as every OpenAI-compatible server
documents it and no ``stream`` unless the test streams.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import openai
import pytest

from serverhelp import spoken
from voicebot.audio.files import decode_audio_bytes
from voicebot.server.serve import EmbeddedServer, start_embedded
from voicebot.speech.voices import voices

MODEL = "voicebot-local"
AUDIO = {"voice": "alloy", "format": "pcm16"}
WEATHER: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}


@pytest.fixture
def sdk(server: EmbeddedServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused",
                       max_retries=0) as c:
        yield c


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0


def collect_stream(stream: Any) -> dict[str, Any]:
    """Join a streamed reply the way SDK users write it: ``chunk.choices[0]`` on every
    chunk (raises IndexError if a ``choices: []`` chunk came unasked)."""
    out: dict[str, Any] = {"pcm": b"", "transcript": "", "content": "", "audio_id": None,
                           "finish": None, "extension": None, "chunks": 0}
    for chunk in stream:
        out["chunks"] += 1
        if out["extension"] is None and chunk.model_extra:
            out["extension"] = chunk.model_extra.get("voicebot")
        choice = chunk.choices[0]
        audio = choice.delta.audio
        if audio is not None:
            out["pcm"] += base64.b64decode(audio.data or "")
            out["transcript"] += audio.transcript or ""
            out["audio_id"] = out["audio_id"] or audio.id
        out["content"] += choice.delta.content or ""
        out["finish"] = choice.finish_reason or out["finish"]
    return out


def test_models_list_and_retrieve(sdk):
    ids = [m.id for m in sdk.models.list()]
    assert ids == [MODEL]
    assert sdk.models.retrieve(MODEL).owned_by == "voicebot"
    with pytest.raises(openai.NotFoundError) as err:
        sdk.models.retrieve("gpt-nope")
    assert "gpt-nope" in err.value.message


def test_streaming_pcm16_collected_and_decoded(sdk):
    stream = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "what is 12 times 7"}],
        modalities=["text", "audio"], audio=AUDIO, stream=True)
    res = collect_stream(stream)
    assert str(12 * 7) in res["transcript"] and res["finish"] == "stop"
    assert res["audio_id"].startswith("audio_")
    assert len(res["pcm"]) % 2 == 0 and rms(res["pcm"]) > 0.01
    assert 0.5 < len(res["pcm"]) / 2 / 24_000 < 10
    assert res["extension"] is None  # typed input: nothing was recognised


def test_usage_chunk_only_when_asked(sdk):
    chunks = list(sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == (chunks[-1].usage.prompt_tokens
                                             + chunks[-1].usage.completion_tokens)
    assert all(c.choices for c in chunks[:-1]) and all(c.usage is None for c in chunks[:-1])


def test_plain_create_is_one_response_with_wav(sdk):
    resp = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "say hello there"}],
        modalities=["text", "audio"], audio={"voice": "echo", "format": "wav"})
    assert isinstance(resp, openai.types.chat.ChatCompletion)
    msg = resp.choices[0].message
    assert msg.audio is not None and msg.audio.transcript == "hello there."
    with wave.open(io.BytesIO(base64.b64decode(msg.audio.data))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
        pcm = w.readframes(w.getnframes())
    assert rms(pcm) > 0.01
    assert msg.audio.expires_at > resp.created


@pytest.mark.parametrize("fmt,container", [("mp3", "mp3"), ("flac", "flac"), ("opus", "ogg"),
                                           ("aac", "aac")])
def test_compressed_audio_formats(sdk, fmt, container):
    def ask(fmt: str) -> bytes:
        resp = sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "say good morning"}],
            modalities=["text", "audio"], audio={"voice": "alloy", "format": fmt})
        assert resp.choices[0].message.audio is not None
        return base64.b64decode(resp.choices[0].message.audio.data)

    wav_samples, wav_rate = decode_audio_bytes(ask("wav"), "wav")
    samples, rate = decode_audio_bytes(ask(fmt), container)
    # Codecs pad (encoder delay, frames): the same speech, within 120 ms.
    assert len(samples) / rate == pytest.approx(len(wav_samples) / wav_rate, abs=0.12)
    assert float(np.sqrt(np.mean(np.square(samples)))) > 0.01


def test_multi_turn_by_audio_id(sdk):
    first = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "what is 6 times 7"}],
        modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"})
    said = first.choices[0].message.audio
    assert said is not None
    again = collect_stream(sdk.chat.completions.create(
        model=MODEL, stream=True, modalities=["text", "audio"], audio=AUDIO,
        messages=[{"role": "user", "content": "what is 6 times 7"},
                  {"role": "assistant", "audio": {"id": said.id}},
                  {"role": "user", "content": "say that again"}]))
    assert again["transcript"] == said.transcript


def test_input_audio_and_what_was_heard(sdk):
    resp = sdk.chat.completions.create(model=MODEL,
                                       messages=[spoken("what is twelve times seven")])
    assert f"is {12 * 7}" in (resp.choices[0].message.content or "")
    heard = (resp.model_extra or {})["voicebot"]["input_transcript"]
    assert "twelve times seven" in heard
    stream = collect_stream(sdk.chat.completions.create(
        model=MODEL, messages=[spoken("what is twelve times seven")], stream=True))
    assert stream["extension"] == {"input_transcript": heard}


def test_tool_call_and_its_result(sdk):
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    resp = sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert resp.choices[0].finish_reason == "tool_calls"
    (call,) = resp.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}
    messages += [resp.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id,
                  "content": json.dumps({"temperature": 21, "sky": "clear"})}]
    answer = sdk.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    text = answer.choices[0].message.content or ""
    assert "21" in text and "clear" in text


def test_json_object_answer(sdk):
    resp = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "what is 9 times 8, in json"}],
        response_format={"type": "json_object"})
    value = json.loads(resp.choices[0].message.content or "")
    assert isinstance(value, dict) and str(9 * 8) in value["answer"]


def test_voice_as_object_refusal_and_file_parts(sdk):
    resp = sdk.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": {"id": "onyx"},
                                                          "format": "wav"},
        messages=[{"role": "user", "content": "tell me a secret"},
                  {"role": "assistant", "content": [{"type": "refusal",
                                                     "refusal": "I can't share that."}]},
                  {"role": "user", "content": [
                      {"type": "text", "text": "say that again"},
                      {"type": "file", "file": {
                          "filename": "notes.txt",
                          "file_data": "data:text/plain;base64,"
                                       + base64.b64encode(b"hello").decode()}}]}])
    audio = resp.choices[0].message.audio
    assert audio is not None
    assert "notes.txt" in audio.transcript and "I can't share that." in audio.transcript


@pytest.mark.parametrize("kw,param,needle", [
    ({"n": 2}, "n", "one choice"),
    ({"modalities": ["text", "audio"], "audio": {"voice": "bob", "format": "wav"}},
     "audio.voice", ", ".join(voices())),
    ({"modalities": ["text", "audio"], "audio": {"voice": {"id": "voice_123"},
                                                 "format": "wav"}},
     "audio.voice.id", "alloy"),
    ({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}]},
     "messages[0].content[0].file.file_id", "file_data"),
])
def test_refusals_raise_bad_request_with_the_servers_message(sdk, kw, param, needle):
    body: Any = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **kw}
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(**body)
    assert err.value.status_code == 400
    assert err.value.param == param and needle in err.value.message


def test_wrong_key_raises_authentication_error():
    key = "sk-local-sdk-test-0123456789"
    with start_embedded(api_key=key, warm_up=False) as srv:
        bad = openai.OpenAI(base_url=srv.base_url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            bad.chat.completions.create(model=MODEL, messages=[{"role": "user",
                                                                "content": "hi"}])
        assert "API key" in err.value.message and key not in err.value.message
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=srv.base_url + "/v1", api_key=key, max_retries=0)
        resp = good.chat.completions.create(model=MODEL,
                                            messages=[{"role": "user", "content": "hi"}])
        assert resp.choices[0].message.content


def test_async_client_stream_and_response(server):
    async def main() -> tuple[dict[str, Any], Any]:
        async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="unused",
                                      max_retries=0) as c:
            stream = await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "what is 3 plus 4"}],
                modalities=["text", "audio"], audio=AUDIO, stream=True)
            res: dict[str, Any] = {"pcm": b"", "transcript": ""}
            async for chunk in stream:
                audio = chunk.choices[0].delta.audio
                if audio is not None:
                    res["pcm"] += base64.b64decode(audio.data or "")
                    res["transcript"] += audio.transcript or ""
            whole = await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "what is 3 plus 4"}])
            with pytest.raises(openai.BadRequestError) as err:
                await c.chat.completions.create(model=MODEL, messages=[], n=3)
            assert err.value.param == "n"
            return res, whole

    res, whole = asyncio.run(main())
    assert str(3 + 4) in res["transcript"] and rms(res["pcm"]) > 0.01
    assert str(3 + 4) in (whole.choices[0].message.content or "")
