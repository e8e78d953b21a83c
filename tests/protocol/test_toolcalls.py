from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.protocol.events import ToolCallDelta
from voicebot.protocol.stream import ChunkDecoder
from voicebot.protocol.toolcalls import ToolCall, ToolCallAccumulator


def accumulate(deltas: list[ToolCallDelta]) -> list[ToolCall]:
    acc = ToolCallAccumulator()
    for d in deltas:
        acc.feed(d)
    return acc.calls()


def test_indexed_calls_in_index_order() -> None:
    calls = accumulate([ToolCallDelta(1, "b", "g", ""), ToolCallDelta(0, "a", "f", "{\"x\""),
                        ToolCallDelta(1, None, None, "{}"), ToolCallDelta(0, None, None, ":1}")])
    assert calls == [ToolCall("a", "f", "{\"x\":1}"), ToolCall("b", "g", "{}")]


def test_seed_single_object_repeating_id_and_name() -> None:
    calls = accumulate([ToolCallDelta(0, "c1", "f", "{\"a\":"), ToolCallDelta(0, "c1", "f", "2}")])
    assert calls == [ToolCall("c1", "f", "{\"a\":2}")]


def test_seed_shape_new_id_at_same_index_is_a_new_call() -> None:
    calls = accumulate([ToolCallDelta(0, "c1", "f", "{}"), ToolCallDelta(0, "c2", "g", "[1]")])
    assert calls == [ToolCall("c1", "f", "{}"), ToolCall("c2", "g", "[1]")]


def test_missing_ids_are_deterministic() -> None:
    calls = accumulate([ToolCallDelta(0, None, "f", "{}"), ToolCallDelta(2, None, "g", "")])
    assert calls == [ToolCall("call_0", "f", "{}"), ToolCall("call_2", "g", "")]
    assert not ToolCallAccumulator() and ToolCallAccumulator().calls() == []


def test_name_split_across_deltas() -> None:
    assert accumulate([ToolCallDelta(0, "x", "get_", ""), ToolCallDelta(0, None, "weather", "")]) \
        == [ToolCall("x", "get_weather", "")]


def test_to_dict_is_the_wire_shape() -> None:
    assert ToolCall("c", "f", "{}").to_dict() == {
        "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def event(delta: dict) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": delta}]}).encode() + b"\n\n"


_args = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)


@settings(max_examples=80, deadline=None)
@given(st.lists(_args, min_size=1, max_size=3), st.data())
def test_arguments_split_anywhere_through_the_decoder(all_args, data) -> None:
    """Interleave the calls' argument pieces in a stream; each call gets its JSON back."""
    texts = [json.dumps(a) for a in all_args]
    pieces = []
    for text in texts:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
        bounds = [0, *cuts, len(text)]
        pieces.append([text[a:b] for a, b in zip(bounds, bounds[1:])])
    order = data.draw(st.permutations([i for i, p in enumerate(pieces) for _ in p]))
    body = b""
    for index in range(len(texts)):
        first = {"index": index, "id": f"id{index}", "type": "function",
                 "function": {"name": f"fn{index}", "arguments": ""}}
        body += event({"tool_calls": [first]})
    cursor = [0] * len(pieces)
    for index in order:
        piece = pieces[index][cursor[index]]
        cursor[index] += 1
        call = {"index": index, "function": {"arguments": piece}}
        body += event({"tool_calls": [call]})
    dec = ChunkDecoder()
    events = dec.feed(body) + dec.end()
    calls = accumulate([e for e in events if isinstance(e, ToolCallDelta)])
    assert calls == [ToolCall(f"id{i}", f"fn{i}", t) for i, t in enumerate(texts)]
    assert [json.loads(c.arguments) for c in calls] == all_args
