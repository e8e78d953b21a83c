"""ChatClient against a real HTTP server on 127.0.0.1 that each test scripts byte by byte."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import random
import socket
import time
from typing import Any

import pytest

from sse_server import (
    Cut, Hold, Pause, Reply, ScriptedServer, delta, finish, hangup_after_cancel, spoken_reply,
    split_at, sse,
)
from voicebot import errors
from voicebot.protocol.events import (
    AudioDelta, AudioInfo, Done, Finished, StreamEvent, TextDelta, ToolCallDelta,
    TranscriptDelta, UsageReport,
)
from voicebot.protocol.toolcalls import ToolCall, ToolCallAccumulator
from voicebot.session import client as client_module
from voicebot.session.client import ChatClient, StreamStats

pytestmark = pytest.mark.anyio

API_KEY = "vb-test-key-0123456789abcdef"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
NOW_EPOCH = 1_700_000_000.0
# Ground truth: 301 samples of a ramp, split into pieces that end on half samples.
PCM = b"".join(int(i * 97 - 15000).to_bytes(2, "little", signed=True) for i in range(301))
PCM_PIECES = split_at(PCM, [1, 2, 101, 300, 333, 601])
TRANSCRIPT = ["Hel", "lo ", "wör", "ld — ", "how are you?"]


class Recorder:
    """The injectable sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(server: ScriptedServer, sleeper: Recorder | None = None, *,
                api_key: str | None = API_KEY, **kw: Any) -> ChatClient:
    kw.setdefault("stall_timeout_s", 5.0)
    return ChatClient(server.base_url, api_key, connect_timeout_s=2.0,
                      sleep=sleeper or Recorder(), wall_clock=lambda: NOW_EPOCH,
                      jitter=lambda: 0.0, **kw)


async def collect(client: ChatClient, body: dict[str, Any] = BODY,
                  **kw: Any) -> list[StreamEvent]:
    return [event async for event in client.stream(body, **kw)]


async def collect_until_error(client: ChatClient) -> tuple[list[StreamEvent], BaseException]:
    events: list[StreamEvent] = []
    with pytest.raises(errors.VoicebotError) as info:
        async for event in client.stream(BODY):
            events.append(event)
    return events, info.value


def audio(events: list[StreamEvent]) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, AudioDelta))


def transcript(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TranscriptDelta))


def error_json(message: str, **extra: Any) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                 **extra}}).encode()


REPLY_BYTES = sse(*spoken_reply(TRANSCRIPT, PCM_PIECES, audio_id="audio_x",
                                expires_at=1_700_003_600, usage=(11, 22)))
_rng = random.Random(7)
SPLITS = {
    "whole": [],
    "every byte": list(range(1, len(REPLY_BYTES))),
    "odd offsets": list(range(3, len(REPLY_BYTES), 37)),
    "random": sorted(_rng.sample(range(1, len(REPLY_BYTES)), 25)),
}


@pytest.mark.parametrize("split", SPLITS, ids=list(SPLITS))
async def test_spoken_reply_split_anywhere(server: ScriptedServer, split: str) -> None:
    server.reply(Reply(pieces=list(split_at(REPLY_BYTES, SPLITS[split]))))
    stats = StreamStats()
    async with make_client(server) as client:
        events = await collect(client, stats=stats)
    assert transcript(events) == "".join(TRANSCRIPT)
    assert audio(events) == PCM
    assert AudioInfo("audio_x", None) in events and AudioInfo(None, 1_700_003_600) in events
    assert Finished("stop") in events
    assert [e.usage["total_tokens"] for e in events if isinstance(e, UsageReport)] == [33]
    assert events[-1] == Done()
    assert stats.attempts == 1 and stats.status_code == 200
    assert stats.request_sent <= stats.first_byte <= stats.first_audio <= stats.done

    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    assert request.json() == BODY


async def test_no_authorization_without_key(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(content="ok"), finish())]))
    async with make_client(server, api_key=None) as client:
        events = await collect(client)
    assert TextDelta("ok") in events
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize("shape", ["array with index", "seed single object"])
async def test_both_tool_call_shapes(server: ScriptedServer, shape: str) -> None:
    args = '{"timezone": "Europe/Paris"}'
    if shape == "array with index":  # name first, then the arguments in odd pieces
        chunks = [delta(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                                     "function": {"name": "get_current_time", "arguments": ""}}]),
                  *[delta(tool_calls=[{"index": 0, "function": {"arguments": piece}}])
                    for piece in (args[:1], args[1:5], args[5:13], args[13:])]]
    else:
        chunks = [delta(tool_calls={"id": "call_1", "type": "function",
                                    "function": {"name": "get_current_time",
                                                 "arguments": args}})]
    server.reply(Reply(pieces=[sse(*chunks, finish("tool_calls"))]))
    async with make_client(server) as client:
        events = await collect(client)
    acc = ToolCallAccumulator()
    for event in events:
        if isinstance(event, ToolCallDelta):
            acc.feed(event)
    assert acc.calls() == [ToolCall("call_1", "get_current_time", args)]
    assert Finished("tool_calls") in events


# -- retries ------------------------------------------------------------------------


async def test_retry_after_ms_then_retry_after_seconds_then_date(server: ScriptedServer) -> None:
    date = email.utils.formatdate(NOW_EPOCH + 4, usegmt=True)
    server.reply(Reply(429, {"retry-after-ms": "1200", "retry-after": "9"},
                       [error_json("slow down")], chunked=False),
                 Reply(503, {"Retry-After": "2"}, [b"overloaded"], chunked=False),
                 Reply(pieces=[sse(delta(content="ok"), finish())]))
    sleeper = Recorder()
    stats = StreamStats()
    async with make_client(server, sleeper) as client:
        events = await collect(client, stats=stats)
        assert sleeper.waits == [1.2, 2.0]
        assert TextDelta("ok") in events and stats.attempts == 3
        assert stats.retry_waits_s == [1.2, 2.0]

        server.reply(Reply(503, {"retry-after": date}, [b""], chunked=False),
                     Reply(pieces=[sse(delta(content="ok"), finish())]))
        await collect(client)
        assert sleeper.waits[-1] == 4.0
    assert len(server.requests) == 5
    assert all(r.body == server.requests[0].body for r in server.requests)


async def test_backoff_without_hints_and_giving_up(server: ScriptedServer) -> None:
    server.reply(*[Reply(500, {}, [error_json("boom")], chunked=False)] * 3)
    sleeper = Recorder()
    async with make_client(server, sleeper) as client:
        _, err = await collect_until_error(client)
    assert isinstance(err, errors.APIStatusError) and err.status_code == 500
    assert str(err) == "server answered 500: boom"
    assert sleeper.waits == [0.5, 1.0]  # jitter 0: the full back-off
    assert len(server.requests) == 3


async def test_wait_too_long_falls_back_to_backoff(server: ScriptedServer) -> None:
    server.reply(Reply(429, {"retry-after": "3600"}, [b""], chunked=False),
                 Reply(pieces=[sse(delta(content="ok"), finish())]))
    sleeper = Recorder()
    async with make_client(server, sleeper) as client:
        await collect(client)
    assert sleeper.waits == [0.5]


@pytest.mark.parametrize(("status", "headers"), [
    (503, {"x-should-retry": "false"}),
    (400, {}),
    (401, {}),
])
async def test_no_retry(server: ScriptedServer, status: int, headers: dict[str, str]) -> None:
    server.reply(Reply(status, headers, [error_json("nope", code="bad")], chunked=False))
    sleeper = Recorder()
    async with make_client(server, sleeper) as client:
        _, err = await collect_until_error(client)
    assert isinstance(err, errors.APIStatusError)
    assert (err.status_code, err.code, err.type) == (status, "bad", "invalid_request_error")
    assert sleeper.waits == [] and len(server.requests) == 1


async def test_should_retry_true_overrides_status(server: ScriptedServer) -> None:
    server.reply(Reply(400, {"x-should-retry": "true"}, [b"{}"], chunked=False),
                 Reply(pieces=[sse(delta(content="ok"), finish())]))
    async with make_client(server) as client:
        await collect(client)
    assert len(server.requests) == 2


async def test_caller_can_forbid_retries(server: ScriptedServer) -> None:
    server.reply(Reply(503, {}, [b""], chunked=False))
    async with make_client(server) as client:
        with pytest.raises(errors.APIStatusError):
            await collect(client, may_retry=lambda: False)
    assert len(server.requests) == 1


async def test_connection_dropped_before_answer_is_retried(server: ScriptedServer) -> None:
    server.reply(Reply(send_head=False, pieces=[Cut()]),
                 Reply(pieces=[sse(delta(content="ok"), finish())]))
    sleeper = Recorder()
    async with make_client(server, sleeper) as client:
        events = await collect(client)
    assert TextDelta("ok") in events and sleeper.waits == [0.5]
    assert server.connections == 2


async def test_no_retry_once_the_body_started(server: ScriptedServer) -> None:
    body = sse(*spoken_reply(TRANSCRIPT, PCM_PIECES), done=False)
    head = body[: body.index(b'"data"')]  # up to the first audio chunk
    server.reply(Reply(pieces=[head, Pause(0.05), Cut()]))
    sleeper = Recorder()
    async with make_client(server, sleeper) as client:
        events, err = await collect_until_error(client)
    assert isinstance(err, errors.StreamCut)
    assert transcript(events) == "".join(TRANSCRIPT)
    assert sleeper.waits == [] and len(server.requests) == 1


# -- errors -------------------------------------------------------------------------


async def test_4xx_shows_error_message(server: ScriptedServer) -> None:
    msg = "The audio file could not be decoded or its format is not supported."
    server.reply(Reply(400, {}, [error_json(msg, param="messages")], chunked=False))
    async with make_client(server) as client:
        _, err = await collect_until_error(client)
    assert str(err) == f"server answered 400: {msg}"
    assert isinstance(err, errors.APIStatusError) and err.param == "messages"


async def test_non_json_error_body_is_one_short_line(server: ScriptedServer) -> None:
    page = b"<html>\n<body>\n" + b"Bad gateway " * 100 + b"\n</body></html>"
    server.reply(Reply(404, {}, [page], chunked=False))
    async with make_client(server) as client:
        _, err = await collect_until_error(client)
    assert str(err).startswith("server answered 404: <html> <body> Bad gateway")
    assert "\n" not in str(err) and len(str(err)) < 250


async def test_mid_stream_error_keeps_what_came_before(server: ScriptedServer) -> None:
    chunks = spoken_reply(TRANSCRIPT, PCM_PIECES)[:-3]  # no finish, expiry, usage
    server.reply(Reply(pieces=[sse(*chunks, done=False),
                               sse({"error": {"message": "model overloaded",
                                              "code": "overloaded"}}, done=False),
                               sse(delta(content="never seen"), finish())]))
    async with make_client(server) as client:
        events, err = await collect_until_error(client)
    assert isinstance(err, errors.APIStreamError) and err.code == "overloaded"
    assert str(err) == "server error mid-stream: model overloaded"
    assert transcript(events) == "".join(TRANSCRIPT) and audio(events) == PCM
    assert TextDelta("never seen") not in events


async def test_stall_timeout(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(audio={"transcript": "Hi"}), done=False),
                               Pause(2.0), sse(finish())]))
    async with make_client(server, stall_timeout_s=0.2) as client:
        start = time.monotonic()
        events, err = await collect_until_error(client)
    assert isinstance(err, errors.StallTimeout)
    assert time.monotonic() - start < 1.5
    assert transcript(events) == "Hi"
    assert str(err).endswith("no data for 0.2 s")


async def test_stall_before_headers_is_not_retried(server: ScriptedServer) -> None:
    server.reply(Reply(send_head=False, pieces=[Pause(2.0)]))
    sleeper = Recorder()
    async with make_client(server, sleeper, stall_timeout_s=0.2) as client:
        _, err = await collect_until_error(client)
    assert isinstance(err, errors.StallTimeout) and sleeper.waits == []


@pytest.mark.parametrize("ending", ["clean end without finish", "connection dropped"])
async def test_cut_stream(server: ScriptedServer, ending: str) -> None:
    partial = sse(delta(role="assistant"), delta(audio={"transcript": "Half a"}), done=False)
    pieces: list[Any] = [partial] if ending.startswith("clean") else [partial, Cut()]
    server.reply(Reply(pieces=pieces))
    async with make_client(server) as client:
        events, err = await collect_until_error(client)
    assert isinstance(err, errors.StreamCut)
    assert transcript(events) == "Half a"


async def test_finish_without_done_is_complete(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(content="fine"), finish(), done=False)]))
    async with make_client(server) as client:
        events = await collect(client)
    assert events[-1] == Done()


async def test_server_holding_the_body_open_after_done(server: ScriptedServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_DRAIN_AFTER_DONE_S", 0.1)
    server.reply(Reply(pieces=[sse(delta(content="ok"), finish()), Hold(5.0)]))
    async with make_client(server) as client:
        start = time.monotonic()
        events = await collect(client)
    assert events[-1] == Done() and time.monotonic() - start < 1.0


async def test_protocol_error_from_bad_chunk(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(content="ok"), done=False), b"data: {oops\n\n"]))
    async with make_client(server) as client:
        events, err = await collect_until_error(client)
    assert isinstance(err, errors.ProtocolError) and TextDelta("ok") in events


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connect_error_names_url_without_credentials() -> None:
    port = _closed_port()
    sleeper = Recorder()
    async with ChatClient(f"http://user:pa55word@127.0.0.1:{port}/v1?api-key=QUERYSECRET",
                          API_KEY, sleep=sleeper, jitter=lambda: 0.0) as client:
        _, err = await collect_until_error(client)
    assert isinstance(err, errors.ConnectError)
    assert str(err).startswith(f"cannot connect to http://127.0.0.1:{port}/v1/chat/completions")
    for secret in ("pa55word", "QUERYSECRET", API_KEY):
        assert secret not in str(err) and secret not in repr(client)
    assert sleeper.waits == [0.5, 1.0]  # connection errors are retried


async def test_base_url_query_is_kept(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(content="ok"), finish())]))
    async with ChatClient(server.base_url + "/?api-version=2024-10-01", None) as client:
        await collect(client)
    assert server.requests[0].path == "/v1/chat/completions?api-version=2024-10-01"


def test_bad_base_url() -> None:
    with pytest.raises(errors.ConfigError):
        ChatClient("ftp://example.com")


# -- connection handling -----------------------------------------------------------


async def test_keep_alive_second_turn_reuses_the_connection(server: ScriptedServer) -> None:
    server.reply(*[Reply(pieces=[REPLY_BYTES])] * 3)
    async with make_client(server) as client:
        for _ in range(3):
            assert audio(await collect(client)) == PCM
    assert server.connections == 1
    assert [r.connection for r in server.requests] == [1, 1, 1]


async def test_cancelling_the_consumer_closes_the_stream(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(audio={"transcript": "Long story"}), done=False),
                               Hold(5.0)]))
    first = asyncio.Event()

    async with make_client(server) as client:
        async def consume() -> None:
            async for _ in client.stream(BODY):
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 2)
        assert await hangup_after_cancel(task, server) < 0.5


async def test_api_key_never_in_errors_or_logs(server: ScriptedServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Incorrect API key provided: {API_KEY}. Authorization: Bearer {API_KEY}"
    server.reply(Reply(503, {}, [error_json(echo)], chunked=False),  # retried: logged
                 Reply(401, {}, [error_json(echo)], chunked=False),
                 Reply(pieces=[sse(delta(content="x"), done=False),
                               sse({"error": {"message": echo}}, done=False)]))
    async with make_client(server) as client:
        for _ in range(2):
            _, err = await collect_until_error(client)
            assert API_KEY not in str(err) and API_KEY not in repr(err)
            assert "Incorrect API key provided: ***" in str(err)
        assert API_KEY not in repr(client)
    assert "retrying" in caplog.text and API_KEY not in caplog.text


async def test_complete_non_streamed(server: ScriptedServer) -> None:
    response = {"id": "c", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None,
        "audio": {"id": "audio_9", "expires_at": 1_700_003_600, "transcript": "Hi!",
                  "data": base64.b64encode(PCM).decode()}}}],
        "usage": {"total_tokens": 5}}
    server.reply(Reply(200, {"content-type": "application/json"},
                       [json.dumps(response).encode()], chunked=False))
    body = {**BODY, "stream_options": {"include_usage": True}}
    async with make_client(server) as client:
        events = await client.complete(body)
    assert transcript(events) == "Hi!" and audio(events) == PCM
    assert AudioInfo("audio_9", 1_700_003_600) in events and events[-1] == Done()
    sent = server.requests[0].json()
    assert sent["stream"] is False and "stream_options" not in sent
