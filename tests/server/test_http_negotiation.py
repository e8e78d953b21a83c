"""What a request without ``stream`` gets, the /v1 routes, the access log, the served spec."""

from __future__ import annotations

import logging

import httpx
import pytest
import yaml

from serverhelp import collect, sse_events
from voicebot.server.negotiate import accepts_event_stream
from voicebot.server.serve import start_embedded

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.parametrize("accept,admits", [
    (None, True), ("", True), ("*/*", True), ("text/*", True), ("text/event-stream", True),
    ("application/json", False), ("application/json, text/event-stream", True),
    ("application/json, text/event-stream;q=0", False),
    ("text/event-stream;q=0, */*", False),            # the specific range decides
    ("TEXT/Event-Stream ; q=0.5", True),
    ("application/json;q=0.9, */*;q=0.1", True),
    ("application/json, */*;q=0", False),
    ("text/html, image/png", False),
])
def test_accepts_event_stream(accept, admits):
    assert accepts_event_stream(accept) is admits


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_no_stream_follows_accept(client, prefix):
    body = {**HELLO, "modalities": ["text", "audio"], "audio": {"format": "wav"}}
    r = client.post(f"{prefix}/chat/completions", json=body,
                    headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["object"] == "chat.completion"
    # Admitting an event stream keeps the spec's default: a stream (so wav is refused).
    r = client.post(f"{prefix}/chat/completions", json=body,
                    headers={"Accept": "application/json, text/event-stream"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "audio.format"
    events = sse_events(client, HELLO, headers={"Accept": "text/event-stream"})
    assert events[-1] == "[DONE]" and "Hello" in collect(events)["content"]
    # An explicit stream flag always wins over Accept.
    r = client.post(f"{prefix}/chat/completions", json={**HELLO, "stream": False},
                    headers={"Accept": "text/event-stream"})
    assert r.json()["object"] == "chat.completion"


def test_no_usage_chunk_unless_asked(client):
    plain = sse_events(client, HELLO)
    assert all(e == "[DONE]" or e["choices"] for e in plain)
    asked = sse_events(client, {**HELLO, "stream_options": {"include_usage": True}})
    assert asked[-2]["choices"] == [] and asked[-2]["usage"]["total_tokens"] > 0


def test_models_routes(client):
    for path in ("/models", "/v1/models"):
        doc = client.get(path).json()
        assert doc["object"] == "list" and [m["id"] for m in doc["data"]] == ["voicebot-local"]
    r = client.get("/v1/models/gpt-4o")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_access_log_line_per_request_without_the_key(caplog):
    key = "sk-local-access-log-0123456789"
    with caplog.at_level(logging.INFO, logger="voicebot.server.access"), \
            start_embedded(api_key=key, warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=30,
                         headers={"Authorization": f"Bearer {key}"}) as c:
        body = {**HELLO, "modalities": ["text", "audio"], "stream": True}
        collect(sse_events(c, body))
        c.post("/v1/chat/completions", json={"messages": "nope"})
        c.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    lines = [r.getMessage() for r in caplog.records if r.name == "voicebot.server.access"]
    assert len(lines) == 3, lines
    stream, bad, denied = (line.split() for line in lines)
    assert stream[:3] == ["POST", "/chat/completions", "200"] and stream[4] == "ms"
    assert stream[5] == "first-audio" and stream[7] == "ms"
    assert float(stream[3]) >= float(stream[6]) > 0  # the whole took longer than first audio
    assert bad[:3] == ["POST", "/v1/chat/completions", "400"] and bad[6] == "-"
    assert denied[:3] == ["GET", "/v1/models", "401"]
    assert not any(key in r.getMessage() or "wrong" in r.getMessage() for r in caplog.records)


def test_served_spec_is_for_users(client):
    text = client.get("/openapi.yaml").text
    for internal in ("shared/", "seeds/", "the seed", "re-indented"):
        assert internal not in text
    doc = yaml.safe_load(text)
    assert set(doc["paths"]) == {"/chat/completions", "/models"}
    assert "input_transcript" in doc["components"]["schemas"]["VoicebotExtension"]["properties"]
