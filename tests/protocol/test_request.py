from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import voicebot
from voicebot.audio import decode_wav, encode_wav
from voicebot.errors import ConfigError
from voicebot.protocol.request import (
    assistant_message,
    build_request,
    encode_request,
    image_data_url,
    image_part,
    input_audio_part,
    system_message,
    text_part,
    tool_message,
    user_message,
)
from voicebot.protocol.toolcalls import ToolCall

SPEC = yaml.safe_load((Path(voicebot.__file__).parent / "server" / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]


def seed_validator(name: str) -> jsonschema.Validator:
    return jsonschema.Draft4Validator({"components": SPEC["components"],
                                       "allOf": [{"$ref": f"#/components/schemas/{name}"}]})


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


TOOL = {"type": "function", "function": {"name": "get_time", "description": "Now.",
                                         "parameters": {"type": "object", "properties": {}},
                                         "strict": False}}
FMT = {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}


def full_request(system: bool = True) -> dict[str, Any]:
    wav = encode_wav(np.zeros(160, "<i2").tobytes(), 16_000)
    messages = [user_message([text_part("hi"), input_audio_part(wav)], name="ann"),
                tool_message("call_0", "12:00")]
    if system:
        messages.insert(0, system_message("Be brief.", name="sys"))
    return build_request(messages, model="gpt-4o-audio-preview", voice="alloy",
                         ssml_enabled=True, context={"room": "kitchen"}, tools=[TOOL],
                         tool_choice={"type": "function", "function": {"name": "get_time"}},
                         parallel_tool_calls=False, response_format=FMT)


def test_every_spec_request_field_is_reachable() -> None:
    body = full_request()
    assert set(SCHEMAS["ChatCompletionRequest"]["properties"]) <= set(body)
    assert body["audio"] == {"voice": "alloy", "format": "pcm16"}
    assert body["stream_options"] == {"include_usage": True}


def test_full_request_validates_against_the_seed_schema() -> None:
    # The seed's AssistantMessage has role "system" (sic), which makes a system
    # message match two oneOf branches; system messages are checked on their own.
    seed_validator("ChatCompletionRequest").validate(full_request(system=False))
    seed_validator("SystemMessage").validate(system_message("Be brief.", name="sys"))


def test_none_is_omitted_never_null() -> None:
    body = build_request([user_message("hi")], model="m", voice=None, modalities=["text"],
                         extra={"temperature": None, "seed": 3})
    assert no_nulls(body)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                    "modalities": ["text"], "stream": True,
                    "stream_options": {"include_usage": True}, "seed": 3}
    assert no_nulls(full_request())


def test_non_streamed_and_extra_override() -> None:
    body = build_request([], model="m", stream=False, audio_format="wav", extra={"model": "n"})
    assert body["stream"] is False and "stream_options" not in body
    assert body["audio"] == {"format": "wav"} and body["model"] == "n"


@pytest.mark.parametrize("kwargs,words", [
    ({"modalities": ["video"]}, "modalities"),
    ({"modalities": []}, "modalities"),
    ({"audio_format": "mp3"}, "cannot be streamed"),
    ({"tool_choice": "always"}, "tool_choice"),
])
def test_bad_options_are_config_errors(kwargs: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        build_request([], model="m", **kwargs)


def test_assistant_message_is_practical_shape() -> None:
    msg = assistant_message("hello", "audio_1",
                            [ToolCall("c", "f", "{}"),
                             {"id": "d", "type": "function",
                              "function": {"name": "g", "arguments": ""}}])
    assert msg == {"role": "assistant", "content": "hello", "audio": {"id": "audio_1"},
                   "tool_calls": [{"id": "c", "type": "function",
                                   "function": {"name": "f", "arguments": "{}"}},
                                  {"id": "d", "type": "function",
                                   "function": {"name": "g", "arguments": ""}}]}
    assert assistant_message(None, "audio_2") == {"role": "assistant", "audio": {"id": "audio_2"}}
    assert tool_message("c", "42") == {"role": "tool", "tool_call_id": "c", "content": "42"}
    seed_validator("ToolMessage").validate(tool_message("c", "42"))


def test_parts_match_the_seed_and_round_trip() -> None:
    pcm = np.arange(-500, 500, dtype="<i2").tobytes()
    wav = encode_wav(pcm, 16_000)
    part = input_audio_part(wav)
    seed_validator("AudioContent").validate(part)
    assert part["input_audio"]["format"] == "wav"
    decoded, info = decode_wav(base64.b64decode(part["input_audio"]["data"], validate=True))
    assert info.sample_rate == 16_000
    assert np.array_equal((decoded[:, 0] * 32768).astype("<i2"), np.frombuffer(pcm, "<i2"))
    seed_validator("TextContent").validate(text_part("x"))
    assert image_part("https://x/y.png", "low") == {
        "type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}
    assert image_part("https://x/y.png") == {"type": "image_url",
                                             "image_url": {"url": "https://x/y.png"}}
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    url = image_data_url(png, "image/png")
    head, _, data = url.partition(",")
    assert head == "data:image/png;base64" and base64.b64decode(data, validate=True) == png


@settings(max_examples=60, deadline=None)
@given(st.text(), st.binary(max_size=64))
def test_encode_request_is_compact_utf8_json(text: str, audio: bytes) -> None:
    body = build_request([user_message([text_part(text), input_audio_part(audio)])], model="m",
                         voice="v")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:      # lone surrogates cannot go on the wire
        with pytest.raises(ConfigError):
            encode_request(body)
        return
    data = encode_request(body)
    assert json.loads(data.decode("utf-8")) == body
    assert data == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_encode_request_refuses_nan() -> None:
    with pytest.raises(ConfigError, match="JSON"):
        encode_request(build_request([], model="m", extra={"temperature": math.nan}))
