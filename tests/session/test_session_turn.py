"""Session.run_turn end to end against the scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sse_server import (Hold, Reply, ScriptedServer, delta, finish, hangup_after_cancel,
                        spoken_reply, split_at, sse)
from voicebot import errors
from voicebot.audio.wav import encode_wav
from voicebot.protocol.events import AudioDelta, Done, Finished, StreamEvent, TranscriptDelta
from voicebot.protocol.request import input_audio_part, text_part
from voicebot.session.builtin_tools import register_builtins
from voicebot.session.client import ChatClient
from voicebot.session.tools import ToolRegistry
from voicebot.session.turn import RequestOptions, Session, TurnResult

pytestmark = pytest.mark.anyio

NOW_EPOCH = 1_700_000_000.0
EXPIRES_AT = int(NOW_EPOCH) + 3600
PCM = bytes(range(256)) * 5  # 640 samples
USER_WAV = encode_wav(b"\x01\x00" * 1600, 16000)
EXPRESSION = "17.5 * 3 / 4"


class Sink:
    def __init__(self, *, mark_audio: bool = False) -> None:
        self.events: list[StreamEvent] = []
        self.audio_started = False
        self._mark_audio = mark_audio

    def on_event(self, event: StreamEvent) -> None:
        self.events.append(event)
        if self._mark_audio and isinstance(event, AudioDelta):
            self.audio_started = True  # what playback would report

    def transcript(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TranscriptDelta))


class NoSleep:
    async def __call__(self, seconds: float) -> None:
        pass


def make_session(server: ScriptedServer, *, tools: ToolRegistry | None = None,
                 **kw: Any) -> Session:
    client = ChatClient(server.base_url, "vb-key-123456", sleep=NoSleep(),
                        stall_timeout_s=5.0, jitter=lambda: 0.0)
    options = RequestOptions(model="test-model", voice="verse", system_prompt="Be brief.")
    return Session(client, options, tools=tools, wall_clock=lambda: NOW_EPOCH, **kw)


def spoken(text: str, audio_id: str = "audio_1", pieces: int = 3) -> Reply:
    words = text.split(" ")
    transcript = [w + " " for w in words[:-1]] + [words[-1]]
    step = len(PCM) // pieces + 1
    body = sse(*spoken_reply(transcript, split_at(PCM, list(range(step, len(PCM), step))),
                             audio_id=audio_id, expires_at=EXPIRES_AT, usage=(10, 5)))
    return Reply(pieces=split_at(body, list(range(7, len(body), 61))))


def tool_call_reply(name: str, arguments: str, *, shape: str = "array",
                    call_id: str = "call_7", preface_audio: bool = False) -> Reply:
    if shape == "array":
        chunks = [delta(tool_calls=[{"index": 0, "id": call_id, "type": "function",
                                     "function": {"name": name, "arguments": ""}}])]
        chunks += [delta(tool_calls=[{"index": 0, "function": {"arguments": piece}}])
                   for piece in (arguments[:3], arguments[3:])]
    else:  # the seed's shape: one object, no index
        chunks = [delta(tool_calls={"id": call_id, "type": "function",
                                    "function": {"name": name, "arguments": arguments}})]
    if preface_audio:
        chunks.insert(0, delta(audio={"id": "audio_pre", "transcript": "Let me check. ",
                                      "data": "AAAAAA=="}))
    return Reply(pieces=[sse(delta(role="assistant"), *chunks, finish("tool_calls"))])


async def test_spoken_turn_and_the_next_request_references_it(server: ScriptedServer) -> None:
    server.reply(spoken("Hello there, how can I help?"), spoken("Sure.", audio_id="audio_2"))
    session = make_session(server)
    sink = Sink()
    async with session.client:
        result = await session.run_turn([input_audio_part(USER_WAV)], sink)
        second = await session.run_turn("and then?", Sink())

    assert result.transcript == sink.transcript() == "Hello there, how can I help?"
    assert result.audio_bytes == len(PCM)
    assert b"".join(e.pcm for e in sink.events if isinstance(e, AudioDelta)) == PCM
    assert (result.audio_id, result.expires_at) == ("audio_1", EXPIRES_AT)
    assert result.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert result.finish_reason == "stop" and result.requests == 1 and result.recorded
    t = result.timings
    assert t.request_sent <= t.first_byte <= t.first_audio <= t.done
    assert [e for e in sink.events if isinstance(e, Done)] == [Done()]
    assert sink.events[-1] == Done()
    assert second.audio_id == "audio_2"

    first_body, second_body = (r.json() for r in server.requests)
    assert first_body["model"] == "test-model" and first_body["stream"] is True
    assert first_body["audio"] == {"voice": "verse", "format": "pcm16"}
    assert first_body["modalities"] == ["text", "audio"]
    assert "tools" not in first_body and "tool_choice" not in first_body
    assert first_body["messages"] == [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": [input_audio_part(USER_WAV)]}]
    assert second_body["messages"][2:] == [
        {"role": "assistant", "audio": {"id": "audio_1"}},
        {"role": "user", "content": [text_part("and then?")]}]
    assert server.connections == 1  # keep-alive across turns


@pytest.mark.parametrize("shape", ["array", "seed object"])
async def test_tool_round_trip(server: ScriptedServer, shape: str) -> None:
    tools = ToolRegistry()
    register_builtins(tools)
    arguments = json.dumps({"expression": EXPRESSION})
    answer = str(17.5 * 3 / 4)
    server.reply(tool_call_reply("calculate", arguments, shape=shape),
                 spoken(f"That makes {answer}."))
    session = make_session(server, tools=tools)
    sink = Sink()
    async with session.client:
        result = await session.run_turn("what is 17.5 times 3 divided by 4?", sink)

    assert result.transcript == f"That makes {answer}."
    assert [(c.id, c.name, c.arguments, c.result) for c in result.tool_calls] == \
        [("call_7", "calculate", arguments, answer)]
    assert result.requests == 2 and result.finish_reason == "stop"
    assert Finished("tool_calls") in sink.events
    assert [e for e in sink.events if isinstance(e, Done)] == [Done()]

    first, second = (r.json() for r in server.requests)
    assert {t["function"]["name"] for t in first["tools"]} >= {"calculate", "get_current_time"}
    assert "tool_choice" not in first
    assert second["messages"][2:] == [
        {"role": "assistant", "tool_calls": [{"id": "call_7", "type": "function",
                                              "function": {"name": "calculate",
                                                           "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": answer}]
    # The history now holds the whole exchange, ending with the spoken answer.
    roles = [m["role"] for m in session.conversation.messages(NOW_EPOCH)]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]


async def test_tool_rounds_are_bounded(server: ScriptedServer) -> None:
    tools = ToolRegistry()
    register_builtins(tools)
    server.reply(tool_call_reply("calculate", '{"expression": "1+1"}', call_id="a"),
                 tool_call_reply("calculate", '{"expression": "2+2"}', call_id="b"))
    session = make_session(server, tools=tools, max_tool_rounds=1)
    async with session.client:
        result = await session.run_turn("loop forever", Sink())
    assert [c.id for c in result.tool_calls] == ["a"]
    assert server.requests[1].json()["tool_choice"] == "none"
    msgs = session.conversation.messages(NOW_EPOCH)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool"]


async def test_unknown_tool_is_reported_to_the_model(server: ScriptedServer) -> None:
    server.reply(tool_call_reply("launch_rocket", "{}"), spoken("I cannot do that."))
    session = make_session(server, tools=ToolRegistry())
    async with session.client:
        result = await session.run_turn("launch", Sink())
    assert result.tool_calls[0].result.startswith("error: unknown tool 'launch_rocket'")
    assert server.requests[1].json()["messages"][-1]["content"] == result.tool_calls[0].result


async def test_mid_stream_error_keeps_partial_and_history(server: ScriptedServer) -> None:
    chunks = spoken_reply(["Once ", "upon "], [PCM[:101], PCM[101:300]])[:-3]
    server.reply(Reply(pieces=[sse(*chunks, {"error": {"message": "overloaded"}}, done=False)]))
    session = make_session(server)
    sink = Sink()
    async with session.client:
        with pytest.raises(errors.APIStreamError) as info:
            await session.run_turn("tell a story", sink)
    partial = info.value.partial
    assert isinstance(partial, TurnResult)
    assert partial is session.last_result
    assert partial.transcript == sink.transcript() == "Once upon "
    assert partial.audio_bytes == 300 and partial.recorded
    assert Done() not in sink.events
    # What the user heard stays, as text (a cut reply's audio id is not trusted).
    assert session.conversation.messages(NOW_EPOCH)[1:] == [
        {"role": "user", "content": [text_part("tell a story")]},
        {"role": "assistant", "content": "Once upon "}]


async def test_failure_before_anything_undoes_the_turn(server: ScriptedServer) -> None:
    server.reply(Reply(400, {}, [b'{"error": {"message": "bad audio"}}'], chunked=False))
    session = make_session(server)
    async with session.client:
        with pytest.raises(errors.APIStatusError) as info:
            await session.run_turn([input_audio_part(b"not a wav")], Sink())
    assert isinstance(info.value.partial, TurnResult) and info.value.partial.recorded is False
    assert len(session.conversation) == 0


@pytest.mark.parametrize("audio_played", [False, True])
async def test_no_retry_after_audio_started(server: ScriptedServer, audio_played: bool) -> None:
    """Round one speaks ("Let me check") and calls a tool; round two gets a 503. It is
    retried only if playback has not started."""
    tools = ToolRegistry()
    register_builtins(tools)
    server.reply(tool_call_reply("calculate", '{"expression": "2*3"}', preface_audio=True),
                 Reply(503, {}, [b'{"error": {"message": "busy"}}'], chunked=False),
                 spoken("Six."))
    session = make_session(server, tools=tools)
    async with session.client:
        if audio_played:
            with pytest.raises(errors.APIStatusError) as info:
                await session.run_turn("2 times 3?", Sink(mark_audio=True))
            assert info.value.status_code == 503
            # The tool ran and "Let me check" was heard: both stay in the history.
            roles = [m["role"] for m in session.conversation.messages(NOW_EPOCH)]
            assert roles == ["system", "user", "assistant", "tool"]
        else:
            result = await session.run_turn("2 times 3?", Sink())
            assert result.transcript == "Let me check. Six."
    assert len(server.requests) == (2 if audio_played else 3)


async def test_cancel_turn_closes_stream_and_keeps_heard_part(server: ScriptedServer) -> None:
    server.reply(Reply(pieces=[sse(delta(role="assistant"),
                                   delta(audio={"id": "audio_c", "transcript": "A long ",
                                                "data": "AAAAAA=="}), done=False),
                               Hold(5.0)]),
                 spoken("Okay."))
    session = make_session(server)
    sink = Sink()
    async with session.client:
        task = asyncio.create_task(session.run_turn("talk", sink))
        for _ in range(200):
            if sink.events:
                break
            await asyncio.sleep(0.01)
        session.mark_audio_started()
        assert await hangup_after_cancel(task, server) < 0.5
        session.note_heard("A")
        await session.run_turn("stop", Sink())
    assert session.last_result is not None and session.last_result.transcript == "Okay."
    assert server.requests[1].json()["messages"][1:] == [
        {"role": "user", "content": [text_part("talk")]},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": [text_part("stop")]}]
