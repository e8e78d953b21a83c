"""The /ws wire format (pure): every client message fed whole and malformed, frame
bounds, server messages; hypothesis: nothing a client sends raises anything but a
WireError, and what a client library would send parses back to itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.bridge.wire import (
    MAX_SAMPLE_RATE,
    MAX_TYPED_CHARS,
    MIN_SAMPLE_RATE,
    Bye,
    Hello,
    Interrupt,
    Played,
    TypedTurn,
    WireError,
    frame_bytes_bounds,
    frame_error,
    parse_client_text,
    parse_hello,
    ready_message,
    record_message,
)
from voicebot.turntaking.events import Interrupted

HELLOS: list[tuple[dict[str, Any], Hello]] = [
    ({"type": "hello", "sample_rate": 16000}, Hello(None, 16000)),
    ({"type": "hello", "token": "t0k3n", "sample_rate": 8000, "voice": "nova"},
     Hello("t0k3n", 8000, "nova")),
    ({"type": "hello", "sample_rate": 48000, "voice": "", "extra": [1, 2]},
     Hello(None, 48000, None)),
]


@pytest.mark.parametrize("message,expected", HELLOS)
def test_hello_parses(message: dict[str, Any], expected: Hello) -> None:
    assert parse_hello(json.dumps(message)) == expected


BAD_HELLOS = [
    ("", "not JSON"),
    ("hello", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"type": "text", "text": "hi"}', "the first message must be a hello"),
    ('{"sample_rate": 16000}', "the first message must be a hello"),
    ('{"type": "hello"}', "hello: sample_rate must be an integer"),
    ('{"type": "hello", "sample_rate": "16000"}', "hello: sample_rate must be an integer"),
    ('{"type": "hello", "sample_rate": true}', "hello: sample_rate must be an integer"),
    ('{"type": "hello", "sample_rate": 16000.0}', "hello: sample_rate must be an integer"),
    ('{"type": "hello", "sample_rate": 7999}', "hello: sample_rate 7999 is outside 8000-48000 Hz"),
    ('{"type": "hello", "sample_rate": 96000}', "hello: sample_rate 96000 is outside"),
    ('{"type": "hello", "sample_rate": 16000, "token": 5}', "hello: token must be a string"),
    ('{"type": "hello", "sample_rate": 16000, "voice": ["a"]}', "hello: voice must be a string"),
    ('{"type": "hello", "sample_rate": 16000, "voice": "' + "v" * 65 + '"}',
     "hello: voice is longer than 64 characters"),
    ("[" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize("text,message", BAD_HELLOS)
def test_bad_hello_is_refused_with_1008_and_says_why(text: str, message: str) -> None:
    with pytest.raises(WireError) as refused:
        parse_hello(text)
    assert message in str(refused.value)
    assert refused.value.close_code == 1008


MESSAGES: list[tuple[str, object]] = [
    ('{"type": "text", "text": "what time is it"}', TypedTurn("what time is it")),
    ('{"type": "interrupt"}', Interrupt()),
    ('{"type": "played", "samples": 0}', Played(0)),
    ('{"type": "played", "samples": 48000, "at": 1.5}', Played(48000)),
    ('{"type": "bye"}', Bye()),
    (' \n{"type":"bye"}\t', Bye()),
]


@pytest.mark.parametrize("text,expected", MESSAGES)
def test_messages_parse(text: str, expected: object) -> None:
    assert parse_client_text(text) == expected


BAD_MESSAGES = [
    ("", "not JSON: \"\""),
    ("{not json", 'not JSON: "{not json"'),
    ('"text"', "not a JSON object"),
    ("{}", "message has no type"),
    ('{"type": 3}', "message has no type"),
    ('{"type": "teleport"}', 'unknown message type "teleport"'),
    ('{"type": "hello", "sample_rate": 16000}', "hello: already received"),
    ('{"type": "text"}', "text: text must be a string"),
    ('{"type": "text", "text": "  "}', "text: text is empty"),
    ('{"type": "text", "text": "' + "a" * (MAX_TYPED_CHARS + 1) + '"}',
     f"text: text is longer than {MAX_TYPED_CHARS} characters"),
    ('{"type": "played"}', "played: samples must be an integer"),
    ('{"type": "played", "samples": -1}', "played: samples must be >= 0"),
    ('{"type": "played", "samples": 1.5}', "played: samples must be an integer"),
]


@pytest.mark.parametrize("text,message", BAD_MESSAGES)
def test_bad_messages_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(WireError) as refused:
        parse_client_text(text)
    assert str(refused.value) == message or message in str(refused.value)


def test_an_error_line_quotes_at_most_a_short_printable_excerpt() -> None:
    with pytest.raises(WireError) as refused:
        parse_client_text("x" * 10_000 + "\n\x00")
    assert len(str(refused.value)) < 80 and "\n" not in str(refused.value)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_frames_of_10_to_200_ms_of_whole_samples_pass(rate: int) -> None:
    low, high = frame_bytes_bounds(rate)
    assert low == rate // 100 * 2 and high == rate // 5 * 2
    assert frame_error(low, rate) is None and frame_error(high, rate) is None
    assert frame_error(rate // 50 * 2, rate) is None  # 20 ms
    assert "not 10-200 ms" in (frame_error(low - 2, rate) or "")
    assert "not 10-200 ms" in (frame_error(high + 2, rate) or "")
    assert "not whole 16-bit samples" in (frame_error(low + 1, rate) or "")


def test_server_messages() -> None:
    ready = json.loads(ready_message("abc", 44100))
    assert ready == {"type": "ready", "session": "abc",
                     "input": {"format": "pcm16", "sample_rate": 44100},
                     "output": {"format": "pcm16", "sample_rate": 24000}}
    event = Interrupted(turn=2, text="Hé, you", played_ms=1200.0, reason="barge_in")
    # The same record `voicebot chat --json` prints.
    assert json.loads(record_message(event.to_dict())) == event.to_dict()


def test_the_token_is_not_in_a_hellos_repr() -> None:
    assert "t0k3n" not in repr(Hello("t0k3n", 16000))


# ---------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(st.text())
def test_any_text_is_a_message_or_a_wire_error(text: str) -> None:
    for parse in (parse_client_text, parse_hello):
        try:
            parse(text)
        except WireError:
            pass


@given(st.dictionaries(st.sampled_from(["type", "text", "samples", "sample_rate", "token",
                                        "voice"]) | st.text(), json_values))
def test_any_json_object_is_a_message_or_a_wire_error(obj: dict[str, Any]) -> None:
    for kind in (None, "text", "played", "hello", "bye", "interrupt"):
        if kind is not None:
            obj = {**obj, "type": kind}
        for parse in (parse_client_text, parse_hello):
            try:
                parse(json.dumps(obj))
            except WireError:
                pass


client_messages = st.one_of(
    st.builds(TypedTurn, st.text(min_size=1, max_size=200).filter(str.strip)),
    st.just(Interrupt()), st.just(Bye()),
    st.builds(Played, st.integers(min_value=0, max_value=2**40)))


def _encode(m: object) -> str:
    if isinstance(m, TypedTurn):
        return json.dumps({"type": "text", "text": m.text})
    if isinstance(m, Played):
        return json.dumps({"type": "played", "samples": m.samples})
    return json.dumps({"type": "interrupt" if isinstance(m, Interrupt) else "bye"})


@given(client_messages)
def test_what_a_client_sends_parses_back(m: object) -> None:
    assert parse_client_text(_encode(m)) == m


@given(st.integers(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE), st.integers(0, 40_000))
def test_frame_error_agrees_with_the_bounds(rate: int, nbytes: int) -> None:
    low, high = frame_bytes_bounds(rate)
    assert (frame_error(nbytes, rate) is None) == (nbytes % 2 == 0 and low <= nbytes <= high)
