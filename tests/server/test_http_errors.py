"""Bad input over real HTTP: always a 4xx with the API's error body, never a 5xx."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from voicebot.server.serve import start_embedded
from voicebot.server.validate import MAX_BODY_BYTES

B64_TEXT = base64.b64encode(b"this is plainly not audio at all").decode()
OK_MSG = [{"role": "user", "content": "hi"}]


def audio_part(data: str, fmt: str = "wav") -> list[dict]:
    return [{"role": "user", "content": [{"type": "input_audio",
                                           "input_audio": {"data": data, "format": fmt}}]}]


CASES = [
    # (name, raw body or JSON, status, param, code)
    ("malformed json", b'{"messages": [', 400, None, "invalid_json"),
    ("not utf-8", b'{"messages": "\xff"}', 400, None, "invalid_json"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, 400, None, "invalid_json"),
    ("top-level array", b"[]", 400, None, "invalid_type"),
    ("no messages", {"model": "x"}, 400, "messages", "missing_required_parameter"),
    ("messages not array", {"messages": "hi"}, 400, "messages", "invalid_type"),
    ("message not object", {"messages": [3]}, 400, "messages[0]", "invalid_type"),
    ("unknown role", {"messages": [{"role": "bot", "content": "x"}]}, 400, "messages[0].role",
     "invalid_role"),
    ("content wrong type", {"messages": [{"role": "user", "content": 5}]}, 400,
     "messages[0].content", "invalid_type"),
    ("unknown content type", {"messages": [{"role": "user", "content": [
        {"type": "video", "video": {}}]}]}, 400, "messages[0].content[0].type",
     "invalid_content_type"),
    ("text part without text", {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
     400, "messages[0].content[0].text", "missing_required_parameter"),
    ("bad base64", {"messages": audio_part("@@not base64@@")}, 400,
     "messages[0].content[0].input_audio.data", "invalid_base64"),
    ("wav that is not audio", {"messages": audio_part(B64_TEXT)}, 400,
     "messages[0].content[0].input_audio.data", "invalid_audio"),
    ("mp3 that is not audio", {"messages": audio_part(B64_TEXT, "mp3")}, 400,
     "messages[0].content[0].input_audio.data", "invalid_audio"),
    ("unsupported input format", {"messages": audio_part(B64_TEXT, "aiff")}, 400,
     "messages[0].content[0].input_audio.format", "unsupported_audio_format"),
    ("unsupported modality", {"messages": OK_MSG, "modalities": ["text", "video"]}, 400,
     "modalities[1]", "unsupported_modality"),
    ("stream wants wav", {"messages": OK_MSG, "modalities": ["audio"],
                          "audio": {"format": "wav"}}, 400, "audio.format",
     "unsupported_audio_format"),
    ("n above 1", {"messages": OK_MSG, "n": 2}, 400, "n", "unsupported_value"),
    ("unknown voice", {"messages": OK_MSG, "audio": {"voice": "bob"}}, 400, "audio.voice",
     "invalid_value"),
    ("unknown voice id", {"messages": OK_MSG, "audio": {"voice": {"id": "voice_1"}}}, 400,
     "audio.voice.id", "invalid_value"),
    ("file by id", {"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-1"}}]}]}, 400,
     "messages[0].content[0].file.file_id", "unsupported_value"),
    ("file data not base64", {"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "@@"}}]}]}, 400,
     "messages[0].content[0].file.file_data", "invalid_base64"),
    ("refusal part from the user", {"messages": [{"role": "system", "content": [
        {"type": "refusal", "refusal": "no"}]}]}, 400, "messages[0].content[0].type",
     "invalid_content_type"),
    ("stream_options not object", {"messages": OK_MSG, "stream_options": True}, 400,
     "stream_options", "invalid_type"),
    ("stream not boolean", {"messages": OK_MSG, "stream": "yes"}, 400, "stream", "invalid_type"),
    ("bad tool name", {"messages": OK_MSG, "tools": [{"type": "function",
                                                      "function": {"name": "no spaces"}}]},
     400, "tools[0].function.name", "invalid_value"),
    ("tool_choice unknown", {"messages": OK_MSG, "tool_choice": {
        "type": "function", "function": {"name": "nope"}}}, 400, "tool_choice.function.name",
     "invalid_value"),
    ("orphan tool message", {"messages": [*OK_MSG, {"role": "tool", "tool_call_id": "call_x",
                                                    "content": "42"}]}, 400,
     "messages[1].tool_call_id", "unknown_tool_call_id"),
    ("image url scheme", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "ftp://example.com/a.png"}]}]}, 400,
     "messages[0].content[0].image_url", "invalid_image_url"),
    ("image data not image", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + B64_TEXT}}]}]},
     400, "messages[0].content[0].image_url", "invalid_image"),
    ("schema with $ref", {"messages": OK_MSG, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"a": {"$ref": "#/defs/a"}}}}}}, 400,
     "response_format.json_schema.schema", "unsupported_schema"),
    ("schema not a schema", {"messages": OK_MSG, "response_format": {
        "type": "json_schema", "json_schema": {"schema": {"type": 12}}}}, 400,
     "response_format.json_schema.schema", "unsupported_schema"),
    ("malformed ssml", {"messages": [{"role": "user", "content": "<speak>hi <break></speak>"}],
                        "ssml_enabled": True}, 400, "messages[0].content", "invalid_ssml"),
    ("ssml doctype", {"messages": [{"role": "user", "content":
                                    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
                                    "<speak>&a;</speak>"}], "ssml_enabled": True}, 400,
     "messages[0].content", "invalid_ssml"),
]


def check_error_body(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"] and "\n" not in err["message"]
    return err


@pytest.mark.parametrize("name,body,status,param,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_4xx(client, name, body, status, param, code):
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = client.post("/chat/completions", headers={"content-type": "application/json"}, **kw)
    assert r.status_code == status, r.text
    err = check_error_body(r)
    assert err["param"] == param and err["code"] == code
    if param:
        assert err["message"].startswith(param)


def test_oversized_body_is_413(client):
    big = b'{"messages": [{"role": "user", "content": "' + b"a" * MAX_BODY_BYTES + b'"}]}'
    r = client.post("/chat/completions", content=big)
    assert r.status_code == 413
    assert check_error_body(r)["code"] == "request_too_large"

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536
    try:
        r = client.post("/chat/completions", content=chunks())
    except httpx.HTTPError:
        pass  # the server may close before the client has written it all
    else:
        assert r.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_unknown_route_and_method(client):
    r = client.get("/nope")
    assert r.status_code == 404 and check_error_body(r)
    r = client.get("/chat/completions")
    assert r.status_code == 405 and check_error_body(r)


def test_spec_and_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/openapi.yaml")
    assert r.status_code == 200 and "ChatCompletionChunk" in r.text


def test_api_key_required_and_never_echoed():
    key = "sk-local-test-0123456789abcdef"
    with start_embedded(api_key=key, warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30) as c:
        body = {"messages": OK_MSG, "stream": False}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
            r = c.post("/chat/completions", json=body, headers=headers)
            assert r.status_code == 401
            assert check_error_body(r)["code"] == "invalid_api_key"
            assert key not in r.text
        r = c.post("/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
        assert c.get("/healthz").status_code == 200


def test_errors_never_kill_the_server(client):
    for body in (b"", b"null", b"{}", json.dumps({"messages": [None]}).encode()):
        assert client.post("/chat/completions", content=body).status_code == 400
    assert client.post("/chat/completions", json={"messages": OK_MSG, "stream": False}
                       ).status_code == 200
