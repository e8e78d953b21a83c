"""The gates before a turn (pure): wake word, follow-up window, push-to-talk."""

from __future__ import annotations

import pytest

from voicebot.capture.segmenter import UtteranceEnded
from voicebot.turntaking.gates import Gates
from voicebot.turntaking.policy import Policy

RATE = 16_000
NOW = 200.0  # when the utterance is decided (after it ended)


def _time_of(sample: int) -> float:
    return 100.0 + sample / RATE  # capture sample 0 at t = 100 s


def _utterance(start_s: float, end_s: float) -> UtteranceEnded:
    start, end = int(start_s * RATE), int(end_s * RATE)
    pcm = b"".join(i.to_bytes(2, "little", signed=True) for i in range(end - start))
    return UtteranceEnded(pcm, start, end, "silence")


def test_open_without_gates() -> None:
    gates = Gates(Policy())
    ev = _utterance(1.0, 2.0)
    assert not gates.closed(0.0)
    assert gates.admit(ev, _time_of, NOW) == (ev.pcm, ev.start_sample)


@pytest.mark.parametrize(("wake_s", "kept_from_s"), [
    (1.5, 1.5),  # "hey jarvis, what time is it": the question after the wake word
    (0.5, 1.0),  # the wake word ended before the utterance began: all of it
])
def test_the_wake_word_opens_once_and_cuts_what_came_before(wake_s: float,
                                                             kept_from_s: float) -> None:
    gates = Gates(Policy(wake_word=True))
    assert gates.closed(0.0)
    gates.wake_word(int(wake_s * RATE), NOW)
    assert not gates.closed(0.0)
    ev = _utterance(1.0, 3.0)
    pcm, start = gates.admit(ev, _time_of, NOW)  # type: ignore[misc]
    cut = int(kept_from_s * RATE) - ev.start_sample
    assert start == int(kept_from_s * RATE) and pcm == ev.pcm[cut * 2:]
    assert gates.closed(0.0) and gates.admit(_utterance(4.0, 5.0), _time_of, NOW) == "no_wake_word"


def test_a_wake_word_after_the_utterance_waits_for_the_next() -> None:
    gates = Gates(Policy(wake_word=True))
    gates.wake_word(int(3.5 * RATE), NOW)
    assert gates.admit(_utterance(1.0, 3.0), _time_of, NOW) == "no_wake_word"
    assert gates.admit(_utterance(4.0, 5.0), _time_of, NOW) != "no_wake_word"


def test_the_wake_words_end_moves_only_while_it_is_pending() -> None:
    gates = Gates(Policy(wake_word=True))
    gates.wake_word_end(RATE)  # no wake word pending: nothing opens
    assert gates.closed(0.0)
    gates.wake_word(int(1.2 * RATE), NOW)
    gates.wake_word_end(int(1.4 * RATE))
    _, start = gates.admit(_utterance(1.0, 3.0), _time_of, NOW)  # type: ignore[misc]
    assert start == int(1.4 * RATE)


@pytest.mark.parametrize(("start_s", "admitted"), [(5.9, True), (6.1, False)])
def test_the_follow_up_window_after_a_reply(start_s: float, admitted: bool) -> None:
    gates = Gates(Policy(wake_word=True, follow_up_ms=5000))
    assert gates.reply_over(101.0) == 106.0
    assert not gates.closed(101.0) and not gates.closed(105.999)
    assert gates.closed(106.0)  # the window closed by itself, at its deadline
    got = gates.admit(_utterance(start_s, start_s + 1), _time_of, NOW)  # begun at 105.9 / 106.1
    assert (got != "no_wake_word") is admitted
    assert gates.closed(101.0)  # one utterance per window, counted or not


def test_no_follow_up_window_without_the_wake_word() -> None:
    assert Gates(Policy()).reply_over(101.0) is None


@pytest.mark.parametrize(("down_s", "up_s", "admitted"), [
    (0.5, 1.5, True),  # held over the start
    (1.5, 2.5, True),  # pressed during it
    (2.5, 3.0, False),  # pressed after it
    (0.1, 0.5, False),  # released before it
])
def test_push_to_talk_counts_an_utterance_the_button_overlapped(
        down_s: float, up_s: float, admitted: bool) -> None:
    gates = Gates(Policy(push_to_talk=True))
    assert gates.closed(0.0)
    gates.push_to_talk(True, _time_of(int(down_s * RATE)))
    assert not gates.closed(0.0)
    gates.push_to_talk(False, _time_of(int(up_s * RATE)))
    assert gates.closed(0.0)
    got = gates.admit(_utterance(1.0, 2.0), _time_of, NOW)
    assert (got != "push_to_talk") is admitted


def test_push_to_talk_still_held_counts_what_began_before_the_press_ended() -> None:
    gates = Gates(Policy(push_to_talk=True))
    gates.push_to_talk(True, _time_of(int(1.5 * RATE)))
    assert gates.admit(_utterance(1.0, 2.0), _time_of, NOW) != "push_to_talk"
    assert gates.admit(_utterance(0.2, 1.0), _time_of, NOW) == "push_to_talk"  # ended before


def test_a_release_without_a_press_is_ignored() -> None:
    gates = Gates(Policy(push_to_talk=True))
    gates.push_to_talk(False, 101.0)
    assert gates.admit(_utterance(0.5, 1.5), _time_of, NOW) == "push_to_talk"


@pytest.mark.parametrize(("end_s", "alone"), [
    (1.3, True),  # the VAD's tail (200 ms) and nothing else after the wake word
    (1.54, True),  # 240 ms of speech after it: its last syllable, a wake end placed early
    (1.56, False),  # 260 ms: "stop"
    (2.5, False),  # "hey jarvis, what time is it" in one breath
])
def test_a_wake_word_said_alone_waits_for_the_question(end_s: float, alone: bool) -> None:
    gates = Gates(Policy(wake_word=True, command_wait_ms=3000, command_min_ms=250,
                         vad_tail_ms=200))
    gates.wake_word(int(1.1 * RATE), NOW)
    got = gates.admit(_utterance(0.5, end_s), _time_of, NOW)
    if not alone:
        assert isinstance(got, tuple) and got[1] == int(1.1 * RATE)
        return
    assert got == "wake_word_only" and gates.follow_up_until == NOW + 3.0
    assert not gates.closed(NOW + 2.99) and gates.closed(NOW + 3.0)
    question = _utterance(NOW + 2.9 - 100.0, NOW + 4.0 - 100.0)  # begins 2.9 s later
    assert gates.admit(question, _time_of, NOW + 4.5) == (question.pcm, question.start_sample)
    assert gates.closed(NOW + 4.5)


def test_the_question_after_a_lone_wake_word_must_begin_in_time() -> None:
    gates = Gates(Policy(wake_word=True, command_wait_ms=3000))
    gates.wake_word(int(1.1 * RATE), NOW)
    assert gates.admit(_utterance(0.5, 1.3), _time_of, NOW) == "wake_word_only"
    late = _utterance(NOW + 3.1 - 100.0, NOW + 4.0 - 100.0)
    assert gates.admit(late, _time_of, NOW + 4.5) == "no_wake_word"


def test_a_wake_word_nothing_followed_expires() -> None:
    """The wake word heard, no utterance took it (it came after its utterance ended, or
    the VAD dropped that one): minutes later speech must not count as its question."""
    gates = Gates(Policy(wake_word=True, command_wait_ms=3000))
    gates.wake_word(int(1.1 * RATE), NOW)
    assert gates.next_change(NOW) == NOW + 3.0
    assert not gates.closed(NOW + 2.99) and gates.closed(NOW + 3.0)
    later = _utterance(NOW + 60.0 - 100.0, NOW + 61.0 - 100.0)
    assert gates.admit(later, _time_of, NOW + 62.0) == "no_wake_word"
    assert gates.next_change(NOW + 62.0) is None


def test_next_change_is_the_earliest_window_still_open() -> None:
    gates = Gates(Policy(wake_word=True, command_wait_ms=3000, follow_up_ms=5000))
    assert gates.next_change(NOW) is None
    gates.reply_over(NOW)
    gates.wake_word(int(1.1 * RATE), NOW + 1.0)
    assert gates.next_change(NOW) == NOW + 4.0
    assert gates.next_change(NOW + 4.5) == NOW + 5.0
    assert gates.next_change(NOW + 5.5) is None


def test_a_lone_wake_word_never_shortens_an_open_follow_up_window() -> None:
    gates = Gates(Policy(wake_word=True, command_wait_ms=3000, follow_up_ms=5000))
    gates.reply_over(NOW)
    gates.wake_word(int(1.1 * RATE), NOW + 1.0)
    assert gates.admit(_utterance(0.5, 1.3), _time_of, NOW + 1.0) == "wake_word_only"
    assert gates.follow_up_until == NOW + 5.0


def _after_reply(policy: Policy) -> Gates:
    gates = Gates(policy)
    gates.reply_over(10.0)  # the follow-up window: [10, 15)
    return gates


@pytest.mark.parametrize(("gates", "start_at", "now", "takes"), [
    (lambda: Gates(Policy()), 3.0, 4.0, True),  # no gate: everything counts
    (lambda: Gates(Policy(wake_word=True)), 3.0, 4.0, False),  # asleep
    # Begun inside the follow-up window, still spoken after it closed: it counts.
    (lambda: _after_reply(Policy(wake_word=True, follow_up_ms=5000)), 14.9, 16.0, True),
    (lambda: _after_reply(Policy(wake_word=True, follow_up_ms=5000)), 15.0, 16.0, False),
])
def test_an_utterance_being_spoken_counts_if_it_began_inside_a_window(
        gates, start_at: float, now: float, takes: bool) -> None:  # type: ignore[no-untyped-def]
    assert gates().takes(start_at, now) is takes


def test_an_utterance_being_spoken_after_the_wake_word_counts_until_its_wait_ends() -> None:
    gates = Gates(Policy(wake_word=True, command_wait_ms=4000))
    gates.wake_word(int(1.0 * RATE), 101.0)  # the question must begin before 105 s
    assert gates.takes(104.9, 107.0) and not gates.takes(105.0, 107.0)


def test_an_utterance_being_spoken_counts_once_the_button_was_held_during_it() -> None:
    gates = Gates(Policy(push_to_talk=True))
    assert not gates.takes(1.0, 2.0)
    gates.push_to_talk(True, 1.5)
    assert gates.takes(1.0, 2.0)
    gates.push_to_talk(False, 2.5)  # released while it is still spoken: it counts
    assert gates.takes(1.0, 3.0) and not gates.takes(2.6, 3.0)
