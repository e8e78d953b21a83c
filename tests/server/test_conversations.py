"""The local assistant's state per conversation: keys, bounds, expiry; isolation over HTTP."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serverhelp import collect, sse_events
from voicebot.server.conversations import Conversations, conversation_key
from voicebot.server.validate import parse_request


def request(messages: list, **extra) -> bytes:
    return json.dumps({"messages": messages, **extra}).encode()


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def key(messages: list, **extra) -> str:
    return conversation_key(parse_request(request(messages, **extra)))


def test_key_is_the_user_when_given():
    assert key([user("a")], user="alice") == key([user("b")], user="alice") == "user:alice"
    assert key([user("a")], user="alice") != key([user("a")], user="bob")


def test_key_is_the_opening_of_the_conversation():
    opening = [{"role": "system", "content": "be brief"}, user("set a timer for 5 minutes")]
    later = [*opening, {"role": "assistant", "content": "Timer 1 is set."}, user("how long")]
    assert key(opening) == key(later)
    assert key(opening) != key([user("set a timer for 5 minutes")])  # another system prompt
    assert key(opening) != key([opening[0], user("set a timer for 6 minutes")])


def test_audio_openings_differ_by_their_bytes():
    def audio(data: str) -> dict:
        return {"role": "user", "content": [{"type": "input_audio",
                                             "input_audio": {"data": data, "format": "wav"}}]}
    assert key([audio("AAAA")]) == key([audio("AAAA"), user("more")])
    assert key([audio("AAAA")]) != key([audio("AAAB")])


def test_least_recently_used_is_dropped_past_capacity():
    convs = Conversations(capacity=2)
    a = convs.assistant("a", 0.0)
    b = convs.assistant("b", 1.0)
    assert convs.assistant("a", 2.0) is a        # a is now the most recent
    convs.assistant("c", 3.0)                     # drops b
    assert len(convs) == 2
    assert convs.assistant("a", 4.0) is a
    assert convs.assistant("b", 5.0) is not b


def test_idle_conversations_expire():
    convs = Conversations(idle_ttl_s=100)
    a = convs.assistant("a", 0.0)
    assert convs.assistant("a", 99.0) is a        # use renews
    convs.assistant("b", 150.0)
    assert convs.assistant("a", 198.0) is a
    assert convs.assistant("a", 298.0) is not a
    assert len(convs) == 1  # b went idle at 250


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 50)), max_size=60))
def test_never_more_than_capacity(uses):
    convs = Conversations(capacity=3, idle_ttl_s=40)
    now = 0.0
    for name, step in uses:
        now += step
        convs.assistant(name, now)
        assert 1 <= len(convs) <= 3


def test_constructor_checks_bounds():
    with pytest.raises(ValueError):
        Conversations(capacity=0)


def ask(client, messages: list, **extra) -> str:
    return collect(sse_events(client, {"messages": messages, **extra}))["content"]


def test_two_conversations_do_not_hear_each_others_timers(client):
    alice = [user("set a timer for 7 minutes")]
    bob = [user("please set a timer for 3 minutes")]
    set_a = ask(client, alice)
    set_b = ask(client, bob)
    assert "7 minutes" in set_a and "3 minutes" in set_b
    alice += [{"role": "assistant", "content": set_a}, user("how long is left on my timer")]
    bob += [{"role": "assistant", "content": set_b}, user("how long is left on my timer")]
    left_a, left_b = ask(client, alice), ask(client, bob)
    assert "Timer 1 has 6 minutes" in left_a or "Timer 1 has 7 minutes" in left_a, left_a
    assert "Timer 1 has 2 minutes" in left_b or "Timer 1 has 3 minutes" in left_b, left_b
    assert "Timer 2" not in left_a + left_b
    # A new conversation that opens by asking has no timers.
    assert "no timers" in ask(client, [user("how long is left on my timer")])


def test_user_field_keeps_timers_across_conversations(client):
    ask(client, [user("set a timer for 9 minutes")], user="carol")
    assert "9 minutes" not in ask(client, [user("how long is left on my timer")], user="dave")
    left = ask(client, [user("how much time is left on my timer")], user="carol")
    assert "Timer 1 has" in left
