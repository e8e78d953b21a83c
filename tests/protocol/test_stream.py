from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_splits import ERROR, pieces_at, run, same_for_all_chunkings

from voicebot.errors import ProtocolError
from voicebot.protocol.events import (
    AudioDelta,
    AudioFile,
    AudioInfo,
    Done,
    Finished,
    RefusalDelta,
    RoleDelta,
    ServerError,
    TextDelta,
    ToolCallDelta,
    TranscriptDelta,
    UsageReport,
)
from voicebot.protocol.stream import ChunkDecoder, decode_response


def sse(*chunks: Any, done: bool = True, eol: str = "\n") -> bytes:
    """A body: one ``data:`` event per chunk (dicts become JSON, str go as is)."""
    parts = [c if isinstance(c, str) else json.dumps(c) for c in chunks]
    if done:
        parts.append("[DONE]")
    return "".join(f"data: {p}{eol}{eol}" for p in parts).encode()


def chunk(delta: dict | None = None, *, index: int = 0, finish: str | None = None,
          **top: Any) -> dict:
    choice: dict[str, Any] = {"index": index, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "system_fingerprint": "fp", "choices": [choice], **top}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
PCM = [bytes(range(1, 8)), bytes([9]), bytes(range(10, 20)), bytes([30, 31, 32])]  # 7,1,10,3

TYPICAL = sse(
    {"id": "x", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]},
    chunk({"role": "assistant", "content": None, "refusal": None}),
    chunk({"audio": {"transcript": "Hi "}}),
    chunk({"audio": {"id": "audio_1", "data": b64(PCM[0])}}),
    chunk({"audio": {"transcript": "there", "data": b64(PCM[1])}}),
    chunk({"audio": {"data": b64(PCM[2])}}, index=1),     # audio in another choice
    chunk({"audio": {"data": b64(PCM[3])}}),
    chunk({}, finish="stop"),
    chunk({"audio": {"expires_at": 1700003600}}),          # after finish_reason
    {"id": "x", "choices": [], "usage": USAGE, "service_tier": "default"},
)
ALL_PCM = b"".join(PCM)                                   # 21 bytes: last one dangles


def audio_of(events: list) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, AudioDelta))


def test_typical_stream() -> None:
    events = same_for_all_chunkings(ChunkDecoder, TYPICAL)
    assert [e for e in events if not isinstance(e, AudioDelta)] == [
        RoleDelta("assistant"), TranscriptDelta("Hi "), AudioInfo("audio_1", None),
        TranscriptDelta("there"), Finished("stop"), AudioInfo(None, 1700003600),
        UsageReport(USAGE), Done()]
    assert all(len(e.pcm) % 2 == 0 and e.pcm for e in events if isinstance(e, AudioDelta))
    assert audio_of(events) == ALL_PCM[:-1]   # the dangling odd byte is dropped at end()


def test_odd_byte_is_carried_not_padded() -> None:
    dec = ChunkDecoder()
    out = dec.feed(sse(chunk({"audio": {"data": b64(b"\x01\x02\x03")}}), done=False))
    assert out == [AudioDelta(b"\x01\x02")]
    out = dec.feed(sse(chunk({"audio": {"data": b64(b"\x04")}}), done=False))
    assert out == [AudioDelta(b"\x03\x04")]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=9), min_size=1, max_size=8), st.data())
def test_audio_concatenation_is_exact(pieces: list[bytes], data) -> None:
    body = sse(*[chunk({"audio": {"data": b64(p)}}) for p in pieces], chunk({}, finish="stop"))
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=10))
    events = run(ChunkDecoder, pieces_at(body, cuts))
    truth = b"".join(pieces)
    assert audio_of(events) == truth[: len(truth) // 2 * 2]
    assert all(len(e.pcm) % 2 == 0 for e in events if isinstance(e, AudioDelta))


CASES = [
    ("text and refusal", sse(chunk({"role": "assistant", "content": ""}),
                             chunk({"content": "Hel"}), chunk({"content": "lo"}),
                             chunk({"refusal": "no"}), chunk({}, finish="stop")),
     [RoleDelta("assistant"), TextDelta("Hel"), TextDelta("lo"), RefusalDelta("no"),
      Finished("stop"), Done()]),
    ("nulls everywhere", sse({"choices": [{"index": 0, "delta": {"content": None, "role": None,
                                                                 "audio": None,
                                                                 "tool_calls": None},
                                           "finish_reason": None, "logprobs": None}],
                              "usage": None}),
     [Done()]),
    ("seed single-object tool call",
     sse(chunk({"tool_calls": {"id": "c1", "type": "function",
                               "function": {"name": "f", "arguments": "{\"a\""}}}),
         chunk({"tool_calls": {"function": {"arguments": ":1}"}}}), chunk({}, finish="tool_calls")),
     [ToolCallDelta(0, "c1", "f", "{\"a\""), ToolCallDelta(0, None, None, ":1}"),
      Finished("tool_calls"), Done()]),
    ("indexed tool calls",
     sse(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
                               {"index": 1, "id": "b", "function": {"name": "g"}}]}),
         chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})),
     [ToolCallDelta(0, "a", "f", ""), ToolCallDelta(1, "b", "g", ""),
      ToolCallDelta(1, None, None, "{}"),
      Done()]),
    ("error event, then more", sse({"error": {"message": "overloaded", "type": "server_error",
                                              "code": 503, "param": None}},
                                   chunk({"content": "x"})),
     [ServerError("overloaded", "server_error", "503", None), TextDelta("x"), Done()]),
    ("error as a string", sse({"error": "boom"}, done=False), [ServerError("boom")]),
    ("finish without [DONE]", sse(chunk({"content": "a"}), chunk({}, finish="length"), done=False),
     [TextDelta("a"), Finished("length"), Done()]),
    ("cut: no finish, no [DONE]", sse(chunk({"content": "a"}), done=False), [TextDelta("a")]),
    ("crlf and keep-alive comments",
     b": ping\r\n\r\n" + sse(chunk({"content": "a"}), eol="\r\n") + b"data:\r\n\r\n",
     [TextDelta("a"), Done()]),
    ("U+2028 in content", sse(chunk({"content": "a\u2028b"}), eol="\r"),
     [TextDelta("a\u2028b"), Done()]),
    ("raw utf-8 content",
     'data: {"choices":[{"delta":{"content":"h\u00e9\U0001F3B5"}}]}\n\n'.encode(),
     [TextDelta("h\u00e9\U0001F3B5")]),
    ("content parts", sse(chunk({"content": [{"type": "text", "text": "a"}, {"type": "x"}]})),
     [TextDelta("a"), Done()]),
    ("malformed json after good events",
     sse(chunk({"content": "a"}), "{\"choices\": [", chunk({"content": "b"})),
     [TextDelta("a"), ERROR]),
    ("bad base64", sse(chunk({"content": "a"}), chunk({"audio": {"data": "@@@"}})),
     [TextDelta("a"), ERROR]),
    ("bad chunk keeps nothing from itself",
     sse(chunk({"content": "a", "audio": {"data": "AB"}})), [ERROR]),
    ("chunk is an array", sse("[1, 2]"), [ERROR]),
    ("choices is an object", sse({"choices": {"delta": {}}}), [ERROR]),
]


@pytest.mark.parametrize("name,body,expected", CASES, ids=[c[0] for c in CASES])
def test_table_every_chunking(name: str, body: bytes, expected: list) -> None:
    assert same_for_all_chunkings(ChunkDecoder, body) == expected


def test_complete_and_saw_done() -> None:
    dec = ChunkDecoder()
    dec.feed(sse(chunk({}, finish="stop"), done=False))
    assert dec.complete and not dec.saw_done
    dec.feed(b"data: [DONE]\n\n")
    assert dec.complete and dec.saw_done
    cut = ChunkDecoder()
    cut.feed(sse(chunk({"content": "a"}), done=False))
    assert cut.end() == [] and not cut.complete


def test_error_is_raised_on_the_next_call_and_stays() -> None:
    dec = ChunkDecoder()
    assert dec.feed(sse(chunk({"content": "a"}), "{nope", done=False)) == [TextDelta("a")]
    with pytest.raises(ProtocolError) as info:
        dec.feed(b"")
    message = str(info.value)
    assert "not JSON" in message and "{nope" in message and "\n" not in message
    with pytest.raises(ProtocolError):
        dec.end()


def test_error_with_nothing_before_is_raised_at_once() -> None:
    with pytest.raises(ProtocolError, match="audio.data is not valid base64"):
        ChunkDecoder().feed(sse(chunk({"audio": {"data": "%%%%"}})))


@pytest.mark.timeout(10)
def test_big_audio_line_in_1kb_pieces() -> None:
    pcm = os.urandom(375_001)                     # 500 KB of base64, odd length
    body = sse(chunk({"audio": {"data": b64(pcm)}}), chunk({}, finish="stop"))
    dec = ChunkDecoder()
    events = []
    for i in range(0, len(body), 1024):
        events.extend(dec.feed(body[i:i + 1024]))
    events.extend(dec.end())
    assert audio_of(events) == pcm[:-1]


# --- property: any chunking of any generated stream ----------------------------------

_text = st.text(max_size=8)
_delta = st.one_of(
    st.builds(lambda t: {"content": t}, _text),
    st.builds(lambda t: {"audio": {"transcript": t}}, _text),
    st.builds(lambda b: {"audio": {"data": b64(b)}}, st.binary(max_size=7)),
    st.builds(lambda i, a: {"tool_calls": [{"index": i, "function": {"arguments": a}}]},
              st.integers(0, 2), _text),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_delta, st.integers(0, 1)), max_size=8), st.booleans(), st.data())
def test_any_stream_any_chunking(deltas, done: bool, data) -> None:
    chunks = [chunk(d, index=i) for d, i in deltas] + [chunk({}, finish="stop")]
    body = sse(*chunks, done=done, eol=data.draw(st.sampled_from(["\n", "\r\n", "\r"])))
    whole = run(ChunkDecoder, [body])
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=10))
    assert run(ChunkDecoder, pieces_at(body, cuts)) == whole
    assert "".join(e.text for e in whole if isinstance(e, TextDelta)) == \
        "".join(d.get("content", "") for d, _ in deltas)
    truth = b"".join(base64.b64decode(d["audio"]["data"]) for d, _ in deltas
                     if "data" in d.get("audio", {}))
    assert audio_of(whole) == truth[: len(truth) // 2 * 2]
    assert whole[-2:] == [Finished("stop"), Done()]


# --- non-streamed responses ----------------------------------------------------------

def response(message: dict, **top: Any) -> dict:
    return {"id": "r", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], **top}


def test_decode_response_pcm16() -> None:
    pcm = os.urandom(101)
    body = response({"role": "assistant", "content": None, "refusal": None,
                     "audio": {"id": "audio_9", "expires_at": 5, "data": b64(pcm),
                               "transcript": "hi"}}, usage=USAGE)
    assert decode_response(body) == [RoleDelta("assistant"), AudioInfo("audio_9", 5),
                                     TranscriptDelta("hi"), AudioDelta(pcm[:100]),
                                     Finished("stop"), UsageReport(USAGE), Done()]


def test_decode_response_wav_and_tool_calls() -> None:
    wav = b"RIFF....WAVEfmt "
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
             {"id": "c2", "type": "function", "function": {"name": "g", "arguments": {"x": 1}}}]
    body = response({"role": "assistant", "content": "ok", "audio": {"data": b64(wav)},
                     "tool_calls": calls})
    assert decode_response(body, audio_format="wav") == [
        RoleDelta("assistant"), TextDelta("ok"), AudioFile(wav, "wav"),
        ToolCallDelta(0, "c1", "f", "{}"), ToolCallDelta(1, "c2", "g", "{\"x\":1}"),
        Finished("stop"), Done()]


def test_decode_response_error_and_bad_shapes() -> None:
    assert decode_response({"error": {"message": "bad key", "code": "invalid_api_key"}}) == [
        ServerError("bad key", code="invalid_api_key")]
    with pytest.raises(ProtocolError, match="choices"):
        decode_response({"choices": "nope"})
    with pytest.raises(ProtocolError, match="expected a string"):
        decode_response(response({"content": 5}))


def test_error_event_type_and_multiline_message() -> None:
    body = (b'event: error\ndata: {"message": "rate\\nlimited", "code": "429"}\n\n'
            + sse(chunk({"content": "x"}), done=False))
    assert same_for_all_chunkings(ChunkDecoder, body) == [
        ServerError("rate limited", code="429"), TextDelta("x")]


def test_end_twice_gives_done_once() -> None:
    dec = ChunkDecoder()
    dec.feed(sse(chunk({}, finish="stop"), done=False))
    assert dec.end() == [Done()]
    assert dec.end() == []
