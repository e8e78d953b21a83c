from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.protocol.request import image_part, input_audio_part, text_part
from voicebot.protocol.toolcalls import ToolCall
from voicebot.session.conversation import VOICE_PLACEHOLDER, Conversation

WAV = b"RIFF....WAVEfmt fake"
EXPIRES = 10_000.0


def audio_turn(tag: str) -> list[dict[str, Any]]:
    return [input_audio_part(WAV + tag.encode())]


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


def test_system_prompt_first_and_user_parts_kept() -> None:
    conv = Conversation("be brief")
    parts = [text_part("what is this?"), image_part("https://x/cat.png"), *audio_turn("1")]
    conv.add_user(parts)
    assert conv.messages(0.0) == [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": parts}]


def test_plain_text_user_turn() -> None:
    conv = Conversation()
    conv.add_user("hello")
    assert conv.messages(0.0) == [{"role": "user", "content": [text_part("hello")]}]


@pytest.mark.parametrize(("now", "by_id"), [
    (0.0, True),
    (EXPIRES - 31, True),
    (EXPIRES - 30, False),  # inside the safety margin
    (EXPIRES + 1, False),
])
def test_assistant_by_audio_id_until_expiry(now: float, by_id: bool) -> None:
    conv = Conversation(expiry_margin_s=30.0)
    conv.add_user("hi")
    conv.add_assistant(transcript="Hello there.", audio_id="audio_1", expires_at=EXPIRES)
    reply = conv.messages(now)[-1]
    if by_id:
        assert reply == {"role": "assistant", "audio": {"id": "audio_1"}}
    else:
        assert reply == {"role": "assistant", "content": "Hello there."}


def test_unknown_expiry_falls_back_to_text() -> None:
    conv = Conversation()
    conv.add_user("hi")
    conv.add_assistant(text="", transcript="Hi.", audio_id="audio_1", expires_at=None)
    assert conv.messages(0.0)[-1] == {"role": "assistant", "content": "Hi."}


def test_text_reply_and_empty_reply() -> None:
    conv = Conversation()
    conv.add_user("a")
    conv.add_assistant(text="typed answer")
    conv.add_user("b")
    conv.add_assistant()  # nothing said: not rendered
    assert roles(conv.messages(0.0)) == ["user", "assistant", "user"]
    assert conv.messages(0.0)[1]["content"] == "typed answer"


def test_tool_round_rendering() -> None:
    conv = Conversation()
    conv.add_user("time?")
    call = ToolCall("call_1", "get_current_time", "{}")
    conv.add_assistant(tool_calls=[call])
    conv.add_tool_result("call_1", "noon")
    conv.add_assistant(transcript="It is noon.", audio_id="a", expires_at=EXPIRES)
    msgs = conv.messages(0.0)
    assert msgs[1] == {"role": "assistant", "tool_calls": [call.to_dict()]}
    assert msgs[2] == {"role": "tool", "tool_call_id": "call_1", "content": "noon"}
    assert msgs[3] == {"role": "assistant", "audio": {"id": "a"}}


def test_old_audio_replaced_by_transcript_or_placeholder() -> None:
    conv = Conversation(max_audio_turns=1)
    conv.add_user([text_part("listen:"), *audio_turn("1"), image_part("https://x/i.png")],
                  transcript="first words")
    conv.add_user(audio_turn("2"))  # no transcript known
    conv.add_user(audio_turn("3"))
    users = [m["content"] for m in conv.messages(0.0)]
    assert users[0] == [text_part("listen:"), text_part("first words"),
                        image_part("https://x/i.png")]
    assert users[1] == [text_part(VOICE_PLACEHOLDER)]
    assert users[2] == audio_turn("3")


def test_set_user_transcript_applies_to_latest_turn() -> None:
    conv = Conversation(max_audio_turns=0)
    conv.add_user(audio_turn("1"))
    conv.set_user_transcript("spoken words")
    assert conv.messages(0.0)[0]["content"] == [text_part("spoken words")]


def test_cap_drops_whole_exchanges() -> None:
    conv = Conversation(max_exchanges=2)
    for i in range(4):
        conv.add_user(f"q{i}")
        call = ToolCall(f"c{i}", "f", "{}")
        conv.add_assistant(tool_calls=[call])
        conv.add_tool_result(f"c{i}", "r")
        conv.add_assistant(text=f"a{i}")
    msgs = conv.messages(0.0)
    assert [m["content"] for m in msgs if m["role"] == "user"] == [[text_part("q2")],
                                                                  [text_part("q3")]]
    assert roles(msgs) == ["user", "assistant", "tool", "assistant"] * 2


def test_checkpoint_rollback_survives_the_cap() -> None:
    conv = Conversation(max_exchanges=1)
    conv.add_user("q0")
    conv.add_assistant(text="a0")
    mark = conv.checkpoint()
    conv.add_user("q1")  # the cap drops exchange 0 now
    conv.add_assistant(text="a1")
    conv.rollback(mark)
    assert conv.messages(0.0) == []
    conv.add_user("q2")
    assert len(conv) == 1


def test_truncate_last_assistant() -> None:
    conv = Conversation()
    conv.add_user("story")
    conv.add_assistant(transcript="Once upon a time there was", audio_id="a", expires_at=EXPIRES)
    conv.truncate_last_assistant("Once upon")
    assert conv.messages(0.0)[-1] == {"role": "assistant", "content": "Once upon"}
    conv.add_user("next")
    with pytest.raises(ValueError):
        conv.truncate_last_assistant("x")


# -- properties ---------------------------------------------------------------------

actions = st.lists(st.one_of(
    st.tuples(st.just("user"), st.booleans()),
    st.tuples(st.just("assistant"), st.booleans()),
    st.tuples(st.just("tools"), st.integers(1, 3)),
    st.tuples(st.just("checkpoint"), st.none()),
    st.tuples(st.just("rollback"), st.none()),
), max_size=40)


@settings(max_examples=200)
@given(actions, st.integers(1, 4), st.integers(0, 3), st.floats(0, 2 * EXPIRES))
def test_history_stays_well_formed(ops: list[tuple[str, Any]], max_exchanges: int,
                                   max_audio_turns: int, now: float) -> None:
    """Whatever happens, every tool message answers a call made just before it, the
    cap holds, and no more than ``max_audio_turns`` user turns carry audio."""
    conv = Conversation("sys", max_exchanges=max_exchanges, max_audio_turns=max_audio_turns)
    marks: list[int] = []
    calls = 0
    for op, arg in ops:
        if op == "user":
            conv.add_user(audio_turn("x"), transcript="words" if arg else None)
        elif op == "assistant":
            conv.add_assistant(transcript="said", audio_id="a" if arg else None,
                               expires_at=EXPIRES)
        elif op == "tools":
            made = [ToolCall(f"c{calls + i}", "f", "{}") for i in range(arg)]
            calls += arg
            conv.add_assistant(tool_calls=made)
            for call in made:
                conv.add_tool_result(call.id, "ok")
        elif op == "checkpoint":
            marks.append(conv.checkpoint())
        elif marks:
            conv.rollback(marks.pop())
    msgs = conv.messages(now)
    assert msgs[0] == {"role": "system", "content": "sys"}
    open_calls: set[str] = set()
    for msg in msgs[1:]:
        if msg["role"] == "tool":
            assert msg["tool_call_id"] in open_calls
            open_calls.discard(msg["tool_call_id"])
        else:
            open_calls = {c["id"] for c in msg.get("tool_calls", [])}
    users = [m for m in msgs if m["role"] == "user"]
    assert len(users) <= max_exchanges
    with_audio = [m for m in users if any(p["type"] == "input_audio" for p in m["content"])]
    assert len(with_audio) <= max_audio_turns
    assert all(m["content"] for m in users)


def test_forget_audio_sends_earlier_replies_as_words() -> None:
    from voicebot.session.conversation import Conversation

    c = Conversation("sys")
    c.add_user("hi")
    c.add_assistant("", "hello there", "audio_1", expires_at=10_000.0)
    assert c.messages(0.0)[-1]["audio"] == {"id": "audio_1"}
    c.forget_audio()
    last = c.messages(0.0)[-1]
    assert "audio" not in last and last["content"] == "hello there"
