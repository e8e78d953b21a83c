"""The status screen's pure state: event records and times in, snapshots out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.kiosk.screenstate import STATES, Mute, ScreenState, Talk, parse_command
from voicebot.turntaking.events import (
    AudioReceived,
    ErrorEvent,
    Event,
    Interrupted,
    MuteChanged,
    StateChanged,
    TimerCancelled,
    TimerFired,
    TimerSet,
    TranscriptDelta,
    TurnDone,
    UsageReported,
    UserSaid,
    UtteranceDetected,
)

WALL = 1_800_000_000.0


def done(turn: int, text: str) -> TurnDone:
    return TurnDone(turn=turn, text=text, audio_bytes=0, audio_id=None, finish_reason="stop")


def fed(records: list[tuple[float, Event]], **options: Any) -> ScreenState:
    state = ScreenState(**options)
    for at, record in records:
        state.feed(record, at)
    return state


A_TURN = [
    (0.0, StateChanged("listening")),
    (1.0, UtteranceDetected(turn=1, start_s=0.2, end_s=1.4, reason="silence")),
    (1.0, StateChanged("thinking")),
    (1.5, UserSaid(turn=1, audio_s=1.2, transcript="what time is it")),
    (1.6, StateChanged("speaking")),
    (1.6, TranscriptDelta(turn=1, text="It is ")),
    (2.0, TranscriptDelta(turn=1, text="ten.")),
    (2.5, done(1, "It is ten.")),
    (2.5, StateChanged("listening")),
]

# (records, when, what the snapshot must hold): expected values written by hand.
CASES: list[tuple[str, list[tuple[float, Event]], float, dict[str, Any]]] = [
    ("nothing yet", [], 0.0,
     {"state": "sleeping", "reason": None, "muted": False, "exchange": None, "timers": []}),
    ("a state", [(0.0, StateChanged("listening"))], 1.0, {"state": "listening"}),
    ("speaking mid-turn", A_TURN[:6], 1.7,
     {"state": "speaking", "exchange": {"turn": 1, "user": "what time is it",
                                        "user_audio_s": 1.2, "assistant": "It is ",
                                        "interrupted": False, "done": False, "error": None}}),
    ("a whole turn", A_TURN, 3.0,
     {"state": "listening", "exchange": {"turn": 1, "user": "what time is it",
                                         "user_audio_s": 1.2, "assistant": "It is ten.",
                                         "interrupted": False, "done": True, "error": None}}),
    ("speech with no transcript", [(0.0, UserSaid(turn=1, audio_s=0.8))], 0.0,
     {"exchange": {"turn": 1, "user": None, "user_audio_s": 0.8, "assistant": "",
                   "interrupted": False, "done": False, "error": None}}),
    ("typed text", [(0.0, UserSaid(turn=1, text="hello"))], 0.0,
     {"exchange": {"turn": 1, "user": "hello", "user_audio_s": None, "assistant": "",
                   "interrupted": False, "done": False, "error": None}}),
    ("interrupted: what was heard", [
        (0.0, UserSaid(turn=1, text="a story")),
        (1.0, TranscriptDelta(turn=1, text="Once upon a time there")),
        (1.5, Interrupted(turn=1, text="Once upon", played_ms=700.0, reason="wake_word"))], 2.0,
     {"exchange": {"turn": 1, "user": "a story", "user_audio_s": None, "assistant": "Once upon",
                   "interrupted": True, "done": False, "error": None}}),
    ("the next turn replaces the last", [*A_TURN, (9.0, UserSaid(turn=2, text="and now?"))],
     9.0, {"exchange": {"turn": 2, "user": "and now?", "user_audio_s": None, "assistant": "",
                        "interrupted": False, "done": False, "error": None}}),
    ("a new conversation's turn 1", [*A_TURN, (9.0, UserSaid(turn=1, text="again"))], 9.0,
     {"exchange": {"turn": 1, "user": "again", "user_audio_s": None, "assistant": "",
                   "interrupted": False, "done": False, "error": None}}),
    ("a failed turn shows its error", [
        (0.0, StateChanged("thinking")), (0.0, UserSaid(turn=1, text="hi")),
        (2.0, ErrorEvent(message="upstream answered 500", turn=1)),
        (2.0, StateChanged("listening"))], 3.0,
     {"state": "error", "reason": "upstream answered 500",
      "exchange": {"turn": 1, "user": "hi", "user_audio_s": None, "assistant": "",
                   "interrupted": False, "done": False, "error": "upstream answered 500"}}),
    ("… for the hold only", [
        (0.0, StateChanged("thinking")),
        (2.0, ErrorEvent(message="upstream answered 500", turn=1)),
        (2.0, StateChanged("listening"))], 12.0, {"state": "listening", "reason": None}),
    ("… or until the next turn", [
        (2.0, ErrorEvent(message="upstream answered 500", turn=1)),
        (2.0, StateChanged("listening")), (4.0, StateChanged("thinking"))], 5.0,
     {"state": "thinking", "reason": None}),
    ("a fault lasts", [(0.0, StateChanged("listening")),
                       (1.0, StateChanged("error", reason="the microphone is gone"))], 1000.0,
     {"state": "error", "reason": "the microphone is gone"}),
    ("… until the next state", [(1.0, StateChanged("error", reason="the microphone is gone")),
                                (50.0, StateChanged("sleeping"))], 51.0,
     {"state": "sleeping", "reason": None}),
    ("… even a failed turn's hold does not end it", [
        (1.0, StateChanged("error", reason="upstream unreachable")),
        (2.0, ErrorEvent(message="connection refused"))], 100.0,
     {"state": "error", "reason": "upstream unreachable"}),
    ("a fault with no reason", [(1.0, StateChanged("error"))], 1.0,
     {"state": "error", "reason": "error"}),
    ("muted", [(0.0, MuteChanged(True))], 0.0, {"muted": True}),
    ("unmuted", [(0.0, MuteChanged(True)), (1.0, MuteChanged(False))], 1.0, {"muted": False}),
    ("timers, soonest first", [(10.0, TimerSet(id="1", label="pasta", duration_s=600.0)),
                               (20.0, TimerSet(id="2", label=None, duration_s=60.0))], 70.0,
     {"timers": [{"id": "2", "label": None, "duration_s": 60.0, "remaining_s": 10.0,
                  "done": False},
                 {"id": "1", "label": "pasta", "duration_s": 600.0, "remaining_s": 540.0,
                  "done": False}]}),
    ("a cancelled timer leaves", [(0.0, TimerSet(id="1", label=None, duration_s=60.0)),
                                  (5.0, TimerCancelled(id="1"))], 6.0, {"timers": []}),
    ("a fired timer shows done", [
        (0.0, TimerSet(id="1", label="eggs", duration_s=60.0)),
        (60.0, TimerFired(id="1", label="eggs", text="The eggs timer is done."))], 75.0,
     {"timers": [{"id": "1", "label": "eggs", "duration_s": 60.0, "remaining_s": 0.0,
                  "done": True}]}),
    ("… for 30 s", [
        (0.0, TimerSet(id="1", label="eggs", duration_s=60.0)),
        (60.0, TimerFired(id="1", label="eggs", text="The eggs timer is done."))], 90.0,
     {"timers": []}),
    ("a timer past its time is done", [(0.0, TimerSet(id="1", label=None, duration_s=5.0))],
     6.0, {"timers": [{"id": "1", "label": None, "duration_s": 5.0, "remaining_s": 0.0,
                       "done": True}]}),
    ("a timer it never saw set fires", [
        (3.0, TimerFired(id="7", label=None, text="Your timer is done."))], 4.0,
     {"timers": [{"id": "7", "label": None, "duration_s": None, "remaining_s": 0.0,
                  "done": True}]}),
    ("a number used again", [
        (0.0, TimerSet(id="1", label="tea", duration_s=60.0)),
        (60.0, TimerFired(id="1", label="tea", text="done")),
        (61.0, TimerSet(id="1", label="rice", duration_s=30.0))], 62.0,
     {"timers": [{"id": "1", "label": "rice", "duration_s": 30.0, "remaining_s": 29.0,
                  "done": False}]}),
]


@pytest.mark.parametrize(("records", "now", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_snapshot(records: list[tuple[float, Event]], now: float,
                  expected: dict[str, Any]) -> None:
    snap = fed(records).snapshot(now, WALL)
    assert snap["type"] == "screen"
    assert snap["clock_s"] == WALL
    assert {k: snap[k] for k in expected} == expected


def test_records_fed_one_at_a_time_or_all_at_once_agree() -> None:
    # Snapshots taken between records do not change what the records add up to.
    one = ScreenState()
    for at, record in A_TURN:
        one.feed(record, at)
        one.snapshot(at, WALL)
    assert one.snapshot(3.0, WALL) == fed(A_TURN).snapshot(3.0, WALL)


def test_a_long_reply_keeps_its_end() -> None:
    state = fed([(0.0, TranscriptDelta(turn=1, text="abcdefghij")),
                 (0.1, TranscriptDelta(turn=1, text="klmnop"))], max_text_chars=10)
    assert state.snapshot(1.0, WALL)["exchange"]["assistant"] == "…hijklmnop"


def test_the_oldest_timer_goes_past_the_limit() -> None:
    state = fed([(float(i), TimerSet(id=str(i), label=None, duration_s=600.0))
                 for i in range(1, 5)], max_timers=3)
    assert [t["id"] for t in state.snapshot(5.0, WALL)["timers"]] == ["2", "3", "4"]


def test_a_fired_timer_the_screen_never_saw_set_keeps_the_limit() -> None:
    """Found by the property below: two timers set, then one that fired without the
    screen having seen it set (set before the page connected) made three of two."""
    state = fed([(0.0, TimerSet(id="1", label=None, duration_s=1.0)),
                 (0.0, TimerSet(id="2", label=None, duration_s=1.0)),
                 (0.0, TimerFired(id="3", label=None, text=""))], max_timers=2)
    assert sorted(t["id"] for t in state.snapshot(0.0, WALL)["timers"]) == ["2", "3"]


def test_what_the_screen_does_not_show_changes_nothing() -> None:
    state = fed(A_TURN[:6])
    before = state.snapshot(1.7, WALL)
    assert not state.feed(AudioReceived(turn=1, bytes=4800, total_bytes=9600), 1.7)
    assert not state.feed(UsageReported(turn=1, usage={"total_tokens": 9}), 1.7)
    assert state.snapshot(1.7, WALL) == before


def test_an_announcement_shows_no_user_line() -> None:
    """A timer that fired is announced through the server as the kiosk's own text turn
    ("Repeat after me: …"): nobody said it; the screen showed it as the user's words."""
    line = "Your timer for 8 seconds is done."
    records: list[tuple[float, Event]] = [
        (0.0, UserSaid(turn=2, text=f"Repeat after me: {line}")),
        (0.5, done(2, line))]
    snap = fed(records, announcement_prefix="Repeat after me: ").snapshot(1.0, WALL)
    assert snap["exchange"]["user"] is None and snap["exchange"]["assistant"] == line
    said = fed([(0.0, UserSaid(turn=1, text="Repeat after me: hello"))]).snapshot(1.0, WALL)
    assert said["exchange"]["user"] == "Repeat after me: hello"  # no prefix given: typed


@pytest.mark.parametrize(("records", "now", "expected"), [
    ([], 0.0, None),
    ([(0.0, ErrorEvent(message="boom", turn=1))], 1.0, 10.0),
    ([(0.0, TimerSet(id="1", label=None, duration_s=60.0))], 1.0, 60.0),
    ([(0.0, TimerSet(id="1", label=None, duration_s=60.0))], 60.0, 90.0),
    ([(0.0, TimerSet(id="1", label=None, duration_s=60.0))], 90.0, None),
    ([(0.0, StateChanged("error", reason="mic gone"))], 1.0, None),
], ids=["nothing", "error hold", "timer runs out", "done timer leaves", "all over", "fault"])
def test_next_change(records: list[tuple[float, Event]], now: float,
                     expected: float | None) -> None:
    assert fed(records).next_change_at(now) == expected


@pytest.mark.parametrize(("message", "command"), [
    ('{"type": "talk"}', Talk()),
    (b'{"type": "talk"}', Talk()),
    ('{"type": "talk", "extra": 1}', Talk()),
    ('{"type": "mute", "muted": true}', Mute(True)),
    ('{"type": "mute", "muted": false}', Mute(False)),
    ('{"type": "mute", "muted": 1}', None),
    ('{"type": "mute"}', None),
    ('{"type": "hello"}', None),
    ('["talk"]', None),
    ('"talk"', None),
    ("talk", None),
    ("", None),
    (b"\xff\xfe", None),
])
def test_parse_command(message: str | bytes, command: object) -> None:
    assert parse_command(message) == command


# ---------------------------------------------------------------- properties

texts = st.text(max_size=30)
turns = st.integers(1, 4)
timer_ids = st.sampled_from(["1", "2", "3"])
records = st.one_of(
    st.builds(StateChanged, st.sampled_from(STATES), st.one_of(st.none(), texts)),
    st.builds(MuteChanged, st.booleans()),
    st.builds(ErrorEvent, texts, st.one_of(st.none(), turns)),
    st.builds(UserSaid, turns, st.one_of(st.none(), texts),
              st.one_of(st.none(), st.floats(0, 30)), st.one_of(st.none(), texts)),
    st.builds(TranscriptDelta, turns, texts),
    st.builds(Interrupted, turns, texts, st.floats(0, 1e4), st.just("barge_in")),
    st.builds(done, turns, texts),
    st.builds(TimerSet, timer_ids, st.one_of(st.none(), texts), st.floats(0.1, 86400)),
    st.builds(TimerCancelled, timer_ids),
    st.builds(TimerFired, timer_ids, st.one_of(st.none(), texts), texts),
    st.builds(AudioReceived, turns, st.integers(0, 9600), st.integers(0, 10**6)),
)
timed_records = st.lists(st.tuples(st.floats(0, 120), records), max_size=40).map(
    lambda rs: sorted(rs, key=lambda r: r[0]))


def still(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot but the seconds left on its timers (the page counts those down)."""
    return {**snap, "timers": [{**t, "remaining_s": None} for t in snap["timers"]]}


@given(timed_records, st.floats(0, 200), st.floats(0, 100))
def test_any_records_give_a_sound_snapshot(rs: list[tuple[float, Event]], after: float,
                                           dt: float) -> None:
    state = fed(rs, max_text_chars=20, max_timers=2)
    now = (rs[-1][0] if rs else 0.0) + after
    snap = state.snapshot(now, WALL)
    json.dumps(snap, allow_nan=False)
    assert snap == state.snapshot(now, WALL)  # a snapshot changes nothing
    assert snap["state"] in STATES
    assert (snap["reason"] is None) == (snap["state"] != "error")
    assert len(snap["timers"]) <= 2
    ex = snap["exchange"]
    assert ex is None or len(ex["assistant"]) <= 20
    assert [t["remaining_s"] for t in snap["timers"]] == sorted(
        t["remaining_s"] for t in snap["timers"])
    # With no record in between, each timer counts down by the time that passed.
    later = {t["id"]: t for t in state.snapshot(now + dt, WALL)["timers"]}
    for t in snap["timers"]:
        if t["id"] in later:
            assert later[t["id"]]["remaining_s"] == pytest.approx(
                max(0.0, t["remaining_s"] - dt), abs=2e-3)
            assert later[t["id"]]["done"] or not t["done"]
    # The screen changes by itself no sooner than it says.
    change = state.next_change_at(now)
    if change is not None:
        assert change > now
        assert still(state.snapshot((now + change) / 2, WALL)) == still(snap)
    else:
        assert state.snapshot(now + 10 * 86400, WALL)["timers"] == []
