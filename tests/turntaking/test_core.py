"""The turn-taking core in-process: every policy, no event loop, no sleeps.

Time is simulated: capture reports carry their capture time, and the core is fed
the same time as ``now`` (a driver with no delivery delay). Speech is described by
its start and end; the detector events a segmenter would emit for it (SpeechStarted
0.3 s after the onset, progress every 20 ms, UtteranceEnded after the hang-over)
are made here, so the expected outputs follow from the policy's numbers alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.capture.segmenter import SpeechStarted, UtteranceDiscarded, UtteranceEnded
from voicebot.protocol.events import (
    AudioDelta,
    Done,
    InputTranscript,
    ToolCallDelta,
    TranscriptDelta,
)
from voicebot.turntaking import Policy, TurnTaking
from voicebot.turntaking import events as ev
from voicebot.turntaking import inputs as ip

RATE = 16_000
REPLY_RATE = 24_000
START_DELAY_S = 0.3   # the segmenter's start trigger: ~0.3 s of speech
HANGOVER_S = 0.7
TAIL_S = 0.2
PREROLL_S = 0.3


class Sim:
    """Drives one core; ``out`` collects every output."""

    def __init__(self, **policy: Any) -> None:
        policy.setdefault("vad_tail_ms", int(TAIL_S * 1000))
        self.core = TurnTaking(Policy(**policy))
        self.out: list[Any] = list(self.core.start())

    def feed(self, inp: Any, now: float) -> list[Any]:
        got = self.core.feed(inp, now)
        self.out += got
        return got

    def speak(self, onset_s: float, end_s: float, *, progress: bool = True) -> list[Any]:
        """Speech from ``onset_s`` to ``end_s`` (capture time = position / RATE)."""
        got: list[Any] = []
        start_sample = int((onset_s - PREROLL_S) * RATE)
        t = onset_s + START_DELAY_S

        def voiced() -> int:  # the last voiced frame so far: speech, not the hang-over
            return int(min(t, end_s) * RATE)

        if t < end_s:
            got += self.feed(ip.Detected(SpeechStarted(start_sample), int(t * RATE), t,
                                         voiced()), t)
            while progress and t + 0.02 < end_s + HANGOVER_S:
                t = round(t + 0.02, 6)
                got += self.feed(ip.Detected(None, int(t * RATE), t, voiced()), t)
        t = end_s + HANGOVER_S
        end_sample = int((end_s + TAIL_S) * RATE)
        pcm = b"\0\0" * (end_sample - start_sample)
        got += self.feed(ip.Detected(UtteranceEnded(pcm, start_sample, end_sample, "silence"),
                                     int(t * RATE), t), t)
        return got

    def reply(self, turn: int, text: str, audio_s: float, now: float, *, end: bool = True) -> None:
        self.feed(ip.StreamInput(turn, TranscriptDelta(text)), now)
        self.feed(ip.StreamInput(turn, AudioDelta(b"\0\0" * int(audio_s * REPLY_RATE))), now)
        if end:
            self.feed(ip.StreamInput(turn, Done()), now)

    def of(self, kind: type) -> list[Any]:
        return [o for o in self.out if isinstance(o, kind)]


def _kinds(outputs: list[Any]) -> list[str]:
    return [type(o).__name__ for o in outputs]


# ---------------------------------------------------------------------------- half-duplex

def test_half_duplex_turn_mutes_capture_and_reports_latency() -> None:
    sim = Sim(mute_while_replying=True)
    assert sim.core.state == "listening"
    got = sim.speak(1.0, 2.0)
    assert _kinds(got) == ["UtteranceDetected", "SetMuted", "StartTurn", "StateChanged"]
    start = sim.of(ip.StartTurn)[0]
    assert start.turn == 1 and start.parts[0]["type"] == "input_audio"
    assert got[1] == ip.SetMuted(True) and sim.core.state == "thinking"

    decided = 2.0 + HANGOVER_S
    # The user's side comes with the answer: the server may say what it recognised.
    got = sim.feed(ip.StreamInput(1, InputTranscript("what time is it")), decided + 0.1)
    user = sim.of(ev.UserSaid)[0]
    assert got == [user] and user.transcript == "what time is it"
    assert user.audio_s == round(2.0 + TAIL_S - (1.0 - PREROLL_S), 3)
    sim.reply(1, "It is noon.", 1.0, decided + 0.2)
    sim.feed(ip.PlaybackProgress(1, 0, decided + 0.3), decided + 0.3)
    sim.feed(ip.PlaybackProgress(1, REPLY_RATE // 2, decided + 0.9), decided + 0.9)
    assert sim.core.state == "speaking"
    report = ip.TurnReport(text="It is noon.", audio_bytes=2 * REPLY_RATE, requests=1,
                           request_sent=decided + 0.001, first_byte=decided + 0.1,
                           first_audio=decided + 0.2, done=decided + 0.25)
    got = sim.feed(ip.TurnFinished(1, report), decided + 1.5)
    assert "".join(d.text for d in sim.of(ev.TranscriptDelta)) == "It is noon."
    done = sim.of(ev.TurnDone)[0]
    lat = done.latency_ms
    # Every stage counts from the end of speech (2.0 s; the utterance itself runs on
    # for the tail the VAD keeps): the endpoint is the hang-over; the first sound is
    # where the progress reports placed it (0.5 s heard 0.9 s after the decision).
    assert lat["endpoint"] == round(HANGOVER_S * 1000, 1)
    assert lat["request_sent"] == round((HANGOVER_S + 0.001) * 1000, 1)
    assert lat["first_audio"] == round((HANGOVER_S + 0.2) * 1000, 1)
    assert lat["first_sound"] == round((HANGOVER_S + 0.4) * 1000, 1)
    assert ip.SetMuted(False) in got and sim.core.state == "listening"
    summary = sim.core.summary()
    assert summary.turns == 1 and summary.latency_ms["first_sound"]["p50"] == lat["first_sound"]


def test_utterances_during_a_turn_wait_their_turn_in_order() -> None:
    sim = Sim()  # a file: not muted, no barge-in
    sim.speak(1.0, 2.0)
    sim.speak(3.0, 4.0)
    sim.speak(5.0, 6.0)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1]
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 7.0)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2]
    sim.feed(ip.TurnFailed(2, "boom"), 7.5)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2, 3]
    assert [u.start_s for u in sim.of(ev.UtteranceDetected)] == [0.7, 2.7, 4.7]


# ---------------------------------------------------------------------------- barge-in

def _playing(sim: Sim, turn: int, *, sound_at: float, text: str, audio_s: float,
             until: float) -> None:
    """The reply of ``turn`` arrived whole and plays from ``sound_at``; progress every
    30 ms up to ``until``."""
    sim.reply(turn, text, audio_s, sound_at - 0.1)
    t = sound_at
    while t <= until:
        sim.feed(ip.PlaybackProgress(turn, int((t - sound_at) * REPLY_RATE), t), t)
        t = round(t + 0.03, 6)


def test_barge_in_cuts_the_reply_at_what_was_heard() -> None:
    sim = Sim(barge_in=True, barge_in_ms=500)
    sim.speak(1.0, 2.0)
    text = "Once upon a time there was a lighthouse keeper who lived on a rock."
    _playing(sim, 1, sound_at=3.0, text=text, audio_s=6.0, until=4.0)
    got = sim.speak(4.0, 5.5)
    cancel = sim.of(ip.CancelTurn)
    assert len(cancel) == 1 and cancel[0].turn == 1
    interrupted = sim.of(ev.Interrupted)[0]
    # SpeechStarted at 4.3, 0.5 s more: the cut at 4.8 s, 1.8 s into the 6 s reply.
    heard_s = 4.8 - 3.0
    assert abs(interrupted.played_ms - heard_s * 1000) <= 20
    # What was heard in proportion, in whole words (a word cut off is not kept).
    chars = int(len(text) * heard_s / 6.0)
    words = text[:chars] if text[chars].isspace() else text[:chars].rsplit(" ", 1)[0]
    assert interrupted.text == words == "Once upon a time"
    assert cancel[0].heard_text == interrupted.text and interrupted.reason == "barge_in"
    # The speech that interrupted becomes the next turn once the first has stopped.
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1]
    sim.feed(ip.TurnCancelled(1), 6.3)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2]
    assert not sim.of(ev.TurnDone) and not sim.of(ev.ErrorEvent)
    assert "UtteranceIgnored" not in _kinds(got)


def _start_over_reply(barge_in_ms: int, voiced_lag_s: float) -> Sim:
    """A reply audible from 3.0 s; then SpeechStarted reported at the end of a capture
    block (4.0 s) whose last voiced frame ended ``voiced_lag_s`` earlier."""
    sim = Sim(barge_in=True, barge_in_ms=barge_in_ms)
    sim.speak(1.0, 2.0)
    _playing(sim, 1, sound_at=3.0, text="A story about the sea.", audio_s=6.0, until=3.9)
    t = 4.0
    voiced = int(round((t - voiced_lag_s) * RATE))
    sim.feed(ip.Detected(SpeechStarted(int(3.6 * RATE)), int(t * RATE), t, voiced), t)
    return sim


@pytest.mark.parametrize("voiced_lag_s", [
    0.0,    # the block ends on a voiced frame
    0.015,  # part of a frame after it
    0.03,   # a whole unvoiced frame after it
    0.05,
])
def test_barge_in_of_zero_ms_interrupts_on_the_start_report(voiced_lag_s: float) -> None:
    """With barge_in_ms = 0 (echo cancellation) the report that starts speech
    interrupts: speech counts from the trigger's last voiced frame, not from the end
    of the block that carried it (which would wait for the next block)."""
    sim = _start_over_reply(0, voiced_lag_s)
    cancel = sim.of(ip.CancelTurn)
    assert len(cancel) == 1 and cancel[0].turn == 1
    assert sim.of(ev.Interrupted)[0].played_ms == pytest.approx(1000.0, abs=20)


@given(voiced_lag_ms=st.integers(0, 200), barge_in_ms=st.integers(0, 1000),
       block_ms=st.sampled_from([20, 30, 40, 60]))
def test_barge_in_counts_from_the_trigger_s_last_voiced_frame(
        voiced_lag_ms: int, barge_in_ms: int, block_ms: int) -> None:
    """Property: the reply is cut at the first report whose last voiced frame ends
    ``barge_in_ms`` or more after the start report's last voiced frame."""
    sim = _start_over_reply(barge_in_ms, voiced_lag_ms / 1000)
    since = 4.0 - voiced_lag_ms / 1000
    assert bool(sim.of(ip.CancelTurn)) == (barge_in_ms == 0)
    t = 4.0
    for _ in range(2 + (barge_in_ms + 200) // block_ms):
        if sim.of(ip.CancelTurn):
            break
        t = round(t + block_ms / 1000, 6)
        sim.feed(ip.Detected(None, int(t * RATE), t, int(round(t * RATE))), t)
    cancel = sim.of(ip.CancelTurn)
    assert len(cancel) == 1
    cut_at = 3.0 + sim.of(ev.Interrupted)[0].played_ms / 1000
    # Cut at the first report (every block_ms) at least barge_in_ms after `since`.
    assert cut_at >= min(since + barge_in_ms / 1000, 4.0) - 0.02
    assert cut_at <= max(since + barge_in_ms / 1000, 4.0) + block_ms / 1000 + 0.02


def test_heard_text_while_streaming_is_not_the_text_received() -> None:
    """Transcript deltas run ahead of the audio: the words heard come from the
    playback position, not from how much text has arrived."""
    sim = Sim(barge_in=True)
    sim.speak(1.0, 2.0)
    text = " ".join(f"word{i}" for i in range(40))  # 239 characters, about 15 s
    sim.reply(1, text, 3.0, 2.9, end=False)  # all text, 3 s of audio so far
    for i in range(0, 34):
        t = 3.0 + i * 0.03
        sim.feed(ip.PlaybackProgress(1, int((t - 3.0) * REPLY_RATE), t), t)
    sim.speak(3.0, 4.5)
    heard = sim.of(ev.Interrupted)[0]
    heard_s = heard.played_ms / 1000
    assert 0.9 < heard_s < 2.0
    # At most a fast speaker's 16 characters a second, not 1/3 of the text.
    assert len(heard.text) <= 16 * heard_s + 1


def test_no_barge_in_before_the_reply_is_audible_or_within_grace() -> None:
    sim = Sim(barge_in=True, barge_in_ms=500, barge_in_grace_ms=1500)
    sim.speak(1.0, 2.0)
    sim.speak(2.8, 4.0)  # while the request is on its way: not an interruption
    assert not sim.of(ip.CancelTurn)
    _playing(sim, 1, sound_at=4.5, text="Hello there.", audio_s=8.0, until=5.0)
    sim.speak(4.9, 6.2)  # counts from 4.5 + 1.5 = 6.0: ends before 6.5
    assert not sim.of(ip.CancelTurn)
    sim.speak(7.0, 8.5)  # 7.3 + 0.5 = 7.8: interrupts
    assert len(sim.of(ip.CancelTurn)) == 1


def test_backchannel_neither_interrupts_nor_becomes_a_turn() -> None:
    sim = Sim(barge_in=True, barge_in_ms=500, backchannel_ms=1300)
    sim.speak(1.0, 2.0)
    _playing(sim, 1, sound_at=3.0, text="Let me tell you a story.", audio_s=6.0, until=4.0)
    got = sim.speak(4.0, 4.4)  # "mm-hmm": 0.4 s
    assert not sim.of(ip.CancelTurn)
    ignored = [o for o in got if isinstance(o, ev.UtteranceIgnored)]
    assert [i.reason for i in ignored] == ["backchannel"]
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 9.0)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1]  # nothing waiting


def test_interrupt_during_a_tool_call_and_go_on() -> None:
    sim = Sim()
    sim.feed(ip.TypedText("what is 2 times 3"), 0.0)
    sim.feed(ip.StreamInput(1, ToolCallDelta(0, "call_1", "calculate", "{}")), 0.1)
    assert sim.of(ev.ToolCallStarted)[0].name == "calculate"
    got = sim.feed(ip.InterruptRequest(), 0.2)
    assert got[0] == ip.CancelTurn(1, "")
    assert got[1] == ev.Interrupted(turn=1, text="", played_ms=0.0, reason="request")
    assert sim.feed(ip.InterruptRequest(), 0.25) == []  # once
    sim.feed(ip.StreamInput(1, TranscriptDelta("late")), 0.3)  # after cancel: dropped
    sim.feed(ip.TurnCancelled(1), 0.4)
    assert sim.core.state == "listening" and sim.core.turn is None
    sim.feed(ip.TypedText("again"), 0.5)
    assert sim.of(ip.StartTurn)[-1] == ip.StartTurn(2, ({"type": "text", "text": "again"},),
                                                    "again")
    assert "late" not in "".join(d.text for d in sim.of(ev.TranscriptDelta))


def test_an_error_mid_turn_keeps_the_conversation_listening() -> None:
    sim = Sim(mute_while_replying=True)
    sim.speak(1.0, 2.0)
    sim.reply(1, "Half a sen", 0.5, 2.9, end=False)
    got = sim.feed(ip.TurnFailed(1, "server error mid-stream: overloaded"), 3.0)
    assert ev.TranscriptDelta(turn=1, text="Half a sen") in got  # what arrived is shown
    assert ev.ErrorEvent(message="server error mid-stream: overloaded", turn=1) in got
    assert ip.SetMuted(False) in got and sim.core.state == "listening"
    assert not sim.of(ip.Stop)
    sim.speak(4.0, 5.0)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2]


# ---------------------------------------------------------------------------- gates

def test_wake_word_gates_and_trims_and_follow_up_window() -> None:
    sim = Sim(wake_word=True, follow_up_ms=5000)
    assert sim.core.state == "sleeping"
    got = sim.speak(1.0, 2.0)
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]
    # "hey jarvis what time is it" in one breath: the wake word ends at 4.0 s.
    sim.speak(3.2, 5.5, progress=False)
    assert not sim.of(ip.StartTurn)  # the wake word came after the utterance was over
    sim.feed(ip.WakeWord("hey_jarvis", int(7.0 * RATE), 7.0), 7.0)
    assert sim.core.state == "listening"
    sim.speak(6.2, 8.5, progress=False)
    [start] = sim.of(ip.StartTurn)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 10.0)
    user = sim.of(ev.UserSaid)[0]
    # Only what follows the wake word is sent: from 7.0 s to the end (8.5 + tail).
    assert user.audio_s == round(8.5 + TAIL_S - 7.0, 3)
    sim.speak(12.0, 13.0)  # within 5 s of the reply's end: no wake word needed
    assert len(sim.of(ip.StartTurn)) == 2
    sim.feed(ip.TurnFinished(2, ip.TurnReport()), 14.0)
    sim.speak(20.0, 21.0)  # too late
    assert len(sim.of(ip.StartTurn)) == 2
    assert sim.of(ev.UtteranceIgnored)[-1].reason == "no_wake_word"


def test_the_follow_up_window_closes_back_to_sleeping() -> None:
    """After a reply the kiosk listens without the wake word for ``follow_up_ms``; the
    state (the screen, systemd's STATUS) says so, and says "sleeping" again when the
    window closes: the core asks to be woken then (it stayed "listening" for ever)."""
    sim = Sim(wake_word=True, follow_up_ms=5000)
    sim.feed(ip.WakeWord("hey_jarvis", int(1.0 * RATE), 1.0), 1.0)
    sim.speak(0.5, 2.0, progress=False)
    got = sim.feed(ip.TurnFinished(1, ip.TurnReport()), 4.0)
    assert ip.WakeAt(9.0) in got and sim.core.state == "listening"
    # A timer that fires early changes nothing but asks again (else the core would
    # wait for a Tick nobody is going to feed it).
    assert sim.feed(ip.Tick(), 8.9999) == [ip.WakeAt(9.0)] and sim.core.state == "listening"
    assert sim.feed(ip.Tick(), 9.0) == [ev.StateChanged(state="sleeping")]
    assert sim.feed(ip.Tick(), 12.0) == []
    # A turn cancelled opens no window and asks for no tick.
    sim.feed(ip.WakeWord("hey_jarvis", int(13.0 * RATE), 13.0), 13.0)
    sim.speak(12.5, 14.0, progress=False)
    got = sim.feed(ip.TurnCancelled(2), 15.0)
    assert not [o for o in got if isinstance(o, ip.WakeAt)] and sim.core.state == "sleeping"


def _window_closes_at_9() -> Sim:
    """A kiosk whose follow-up window, after a reply, closes at 9.0 s."""
    sim = Sim(wake_word=True, follow_up_ms=5000)
    sim.feed(ip.WakeWord("hey_jarvis", int(1.0 * RATE), 1.0), 1.0)
    sim.speak(0.5, 2.0, progress=False)
    assert ip.WakeAt(9.0) in sim.feed(ip.TurnFinished(1, ip.TurnReport()), 4.0)
    return sim


def test_a_question_begun_before_the_window_closed_keeps_it_listening() -> None:
    """A follow-up question begun just before the window closed counts (it began
    inside it): the state said "sleeping" while the user was still asking it."""
    sim = _window_closes_at_9()
    start = int((8.7 - PREROLL_S) * RATE)
    sim.feed(ip.Detected(SpeechStarted(start), int(8.9 * RATE), 8.9, int(8.9 * RATE)), 8.9)
    assert sim.feed(ip.Tick(), 9.0) == [] and sim.core.state == "listening"
    end = int(10.0 * RATE)
    pcm = b"\0\0" * (end - start)
    got = sim.feed(ip.Detected(UtteranceEnded(pcm, start, end, "silence"), end, 10.0), 10.0)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2]
    assert not [o for o in got if isinstance(o, ev.StateChanged) and o.state == "sleeping"]


def test_speech_begun_in_the_window_and_then_discarded_goes_back_to_sleep() -> None:
    sim = _window_closes_at_9()
    start = int((8.7 - PREROLL_S) * RATE)
    sim.feed(ip.Detected(SpeechStarted(start), int(8.9 * RATE), 8.9, int(8.9 * RATE)), 8.9)
    assert sim.feed(ip.Tick(), 9.0) == []
    got = sim.feed(ip.Detected(UtteranceDiscarded(start, int(9.2 * RATE)), int(9.2 * RATE),
                               9.2), 9.2)
    assert ev.StateChanged(state="sleeping") in got and sim.core.state == "sleeping"


def test_speech_begun_after_the_window_closed_leaves_it_sleeping() -> None:
    sim = _window_closes_at_9()
    assert sim.feed(ip.Tick(), 9.0) == [ev.StateChanged(state="sleeping")]
    got = sim.speak(9.5, 10.5)
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]
    assert not [o for o in got if isinstance(o, ev.StateChanged)]


def test_a_wake_word_said_alone_then_the_question_is_one_turn() -> None:
    """"Hey jarvis." [the earcon] "What time is it?": the wake word's utterance ends
    in the pause and is no turn (it was: the wake word's tail and the VAD's, answered
    "I didn't catch anything", and the question was lost); the next utterance,
    begun within ``command_wait_ms``, is the question, sent whole."""
    sim = Sim(wake_word=True, command_wait_ms=4000, follow_up_ms=5000)
    sim.feed(ip.WakeWord("hey_jarvis", int(1.8 * RATE), 1.8), 1.8)
    got = sim.speak(1.0, 1.8, progress=False)  # ends at 2.5 s (the hang-over)
    [ignored] = [o for o in got if isinstance(o, ev.UtteranceIgnored)]
    assert ignored.reason == "wake_word_only" and ip.WakeAt(2.5 + 4.0) in got
    assert not sim.of(ip.StartTurn) and sim.core.state == "listening"
    sim.speak(3.3, 4.5, progress=False)  # the question, begun 0.8 s later
    [start] = sim.of(ip.StartTurn)
    [detected] = sim.of(ev.UtteranceDetected)
    assert detected.start_s == round(3.3 - PREROLL_S, 3)  # whole, pre-roll included
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 6.0)
    sim.feed(ip.Tick(), 11.1)
    assert sim.core.state == "sleeping"


def test_a_wake_word_said_alone_and_nothing_after_goes_back_to_sleep() -> None:
    sim = Sim(wake_word=True, command_wait_ms=4000)
    sim.feed(ip.WakeWord("hey_jarvis", int(1.8 * RATE), 1.8), 1.8)
    sim.speak(1.0, 1.8, progress=False)
    assert sim.feed(ip.Tick(), 6.6) == [ev.StateChanged(state="sleeping")]
    got = sim.speak(8.0, 9.0)  # too late: the wake word is needed again
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]
    assert not sim.of(ip.StartTurn)


def test_a_wake_word_no_utterance_took_expires() -> None:
    sim = Sim(wake_word=True, command_wait_ms=4000)
    sim.speak(3.2, 5.5, progress=False)  # the wake word comes after its utterance ended
    got = sim.feed(ip.WakeWord("hey_jarvis", int(5.4 * RATE), 6.2), 6.2)
    assert ip.WakeAt(10.2) in got and sim.core.state == "listening"
    assert sim.feed(ip.Tick(), 10.3) == [ev.StateChanged(state="sleeping")]
    got = sim.speak(40.0, 41.0)
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]


@given(st.lists(st.tuples(st.sampled_from(["wake", "reply"]), st.floats(0.0, 10.0)),
                min_size=1, max_size=6),
       st.lists(st.floats(0.0, 1e-3), min_size=1, max_size=20))
def test_a_driver_that_feeds_the_ticks_asked_for_always_ends_sleeping(
        events: list[tuple[str, float]], early_s: list[float]) -> None:
    """Wake words with nothing said and replies, at any times; a driver that feeds a
    Tick when the core asks (its timer sometimes a little early): once every window
    has closed, the state is "sleeping", and the core asks for nothing more."""
    sim = Sim(wake_word=True, command_wait_ms=4000, follow_up_ms=5000)
    now, turn, asked = 0.0, 0, []
    for kind, gap_s in events:
        now += gap_s
        if kind == "wake":
            asked += [o for o in sim.feed(ip.WakeWord("w", 0, now), now)
                      if isinstance(o, ip.WakeAt)]
        else:
            turn += 1
            sim.feed(ip.TypedText("hi"), now)
            asked += [o for o in sim.feed(ip.TurnFinished(turn, ip.TurnReport()), now)
                      if isinstance(o, ip.WakeAt)]
    previous = None
    for i in range(100):
        if not asked:
            break
        at = asked.pop().at  # the latest replaces the earlier
        asked.clear()
        # Early at most once for a deadline: asked again, the timer is due at once.
        now = max(now, at if at == previous else at - early_s[i % len(early_s)])
        previous = at
        asked += [o for o in sim.feed(ip.Tick(), now) if isinstance(o, ip.WakeAt)]
    assert not asked and sim.core.state == "sleeping"


def test_no_window_no_tick_without_the_wake_word() -> None:
    sim = Sim()
    sim.feed(ip.TypedText("hi"), 1.0)
    assert not [o for o in sim.feed(ip.TurnFinished(1, ip.TurnReport()), 2.0)
                if isinstance(o, ip.WakeAt)]


def test_wake_word_end_placed_again_moves_the_cut_and_only_before_it() -> None:
    """The detector places the word's end again a few chunks after the detection: the
    question is cut there. One that comes after the cut changes nothing; it plays no
    second earcon."""
    sim = Sim(wake_word=True, earcons=True, follow_up_ms=0)
    sim.feed(ip.WakeWord("hey_jarvis", int(4.3 * RATE), 4.3), 4.3)
    got = sim.feed(ip.WakeWordEnd(int(4.0 * RATE)), 4.6)
    assert not [o for o in got if isinstance(o, ip.PlayEarcon)]
    sim.speak(3.2, 5.5, progress=False)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 7.0)
    assert sim.of(ev.UserSaid)[0].audio_s == round(5.5 + TAIL_S - 4.0, 3)
    assert [e.name for e in sim.of(ip.PlayEarcon)].count("wake") == 1
    sim.feed(ip.WakeWordEnd(int(3.5 * RATE)), 7.1)  # too late: no wake word pending
    got = sim.speak(9.0, 10.0)
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]


def test_wake_word_over_a_reply_stops_it_and_its_question_is_the_next_turn() -> None:
    """The kiosk with echo cancellation: listening while the reply plays, no speech
    barge-in. Speech over the reply without the wake word changes nothing; the wake
    word cuts the reply to what was heard, and the question after it is answered."""
    sim = Sim(wake_word=True, earcons=True)
    sim.feed(ip.WakeWord("hey_jarvis", int(1.0 * RATE), 1.0), 1.0)
    sim.speak(0.8, 2.0, progress=False)
    story = "Once upon a time a keeper lived in a lighthouse far out at sea."
    sim.reply(1, story, 6.0, 3.0, end=False)
    sim.feed(ip.PlaybackProgress(1, 0, 3.1), 3.1)
    sim.feed(ip.PlaybackProgress(1, REPLY_RATE, 4.1), 4.1)
    assert sim.core.state == "speaking"
    got = sim.speak(4.5, 5.5)  # someone talks in the room: no wake word
    assert [o.reason for o in got if isinstance(o, ev.UtteranceIgnored)] == ["no_wake_word"]
    assert not sim.of(ip.CancelTurn)
    # "hey jarvis, what time is it": the wake word ends at 7.0 s, 3.9 s into the reply.
    got = sim.feed(ip.WakeWord("hey_jarvis", int(7.0 * RATE), 7.0), 7.0)
    [cancel] = [o for o in got if isinstance(o, ip.CancelTurn)]
    [cut] = [o for o in got if isinstance(o, ev.Interrupted)]
    assert cut.reason == "wake_word" and cut.played_ms == 3900.0
    assert cancel.heard_text == cut.text and cancel.heard_text
    assert story.startswith(cancel.heard_text) and len(cancel.heard_text) < len(story)
    assert ip.PlayEarcon("wake") in got
    sim.speak(6.2, 8.5, progress=False)
    assert len(sim.of(ip.StartTurn)) == 1  # the cut turn's task has not ended yet
    sim.feed(ip.TurnCancelled(1), 9.3)
    assert [s.turn for s in sim.of(ip.StartTurn)] == [1, 2]
    sim.feed(ip.TurnFinished(2, ip.TurnReport()), 10.0)
    user = sim.of(ev.UserSaid)[-1]  # only what follows the wake word was sent
    assert user.turn == 2 and user.audio_s == round(8.5 + TAIL_S - 7.0, 3)


def test_push_to_talk_only_while_held() -> None:
    sim = Sim(push_to_talk=True)
    assert sim.core.state == "sleeping"
    sim.speak(1.0, 2.0)
    assert sim.of(ev.UtteranceIgnored)[0].reason == "push_to_talk"
    sim.feed(ip.PushToTalk(True, 3.0), 3.0)
    assert sim.core.state == "listening"
    sim.feed(ip.PushToTalk(False, 4.5), 4.5)
    sim.speak(3.2, 4.4)
    assert len(sim.of(ip.StartTurn)) == 1


# ---------------------------------------------------------------------------- the rest

def test_timer_fires_aloud_even_when_idle() -> None:
    sim = Sim(earcons=True)
    got = sim.feed(ip.TimerDue("3", "tea", "Your tea timer is done."), 1.0)
    assert got == [ev.TimerFired(id="3", label="tea", text="Your tea timer is done."),
                   ip.PlayEarcon("timer"), ip.Say("Your tea timer is done.")]


def test_earcons_in_order_of_a_turn() -> None:
    sim = Sim(earcons=True, wake_word=True)
    sim.feed(ip.WakeWord("alexa", int(1.0 * RATE), 1.0), 1.0)
    sim.speak(0.8, 2.0, progress=False)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 3.0)
    sim.speak(3.5, 4.0, progress=False)
    sim.feed(ip.TurnFailed(2, "no"), 5.0)
    assert [e.name for e in sim.of(ip.PlayEarcon)] == ["wake", "thinking", "done", "thinking",
                                                       "error"]


def test_stop_at_max_turns_and_at_end_of_input() -> None:
    sim = Sim(max_turns=1)
    sim.speak(1.0, 2.0)
    sim.speak(3.0, 4.0)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 5.0)
    assert sim.out[-1] == ip.Stop("max_turns") and isinstance(sim.out[-2], ev.Summary)
    assert len(sim.of(ip.StartTurn)) == 1 and sim.core.feed(ip.TypedText("x"), 6.0) == []
    sim = Sim()
    sim.speak(1.0, 2.0)
    assert not sim.feed(ip.InputEnded(), 3.0)  # a turn is still running
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 4.0)
    assert sim.out[-1] == ip.Stop("input_ended")


def test_words_unpaced_come_as_they_arrive() -> None:
    sim = Sim(pace_transcript=False)
    sim.feed(ip.TypedText("hi"), 0.0)
    got = sim.feed(ip.StreamInput(1, TranscriptDelta("Hello ")), 0.1)
    assert got == [ev.TranscriptDelta(turn=1, text="Hello ")]
    sim.feed(ip.StreamInput(1, AudioDelta(b"\0\0" * 100)), 0.2)
    sim.feed(ip.StreamInput(1, TranscriptDelta("there.")), 0.3)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 0.4)
    assert "".join(d.text for d in sim.of(ev.TranscriptDelta)) == "Hello there."
    assert sim.of(ev.AudioReceived)[0] == ev.AudioReceived(turn=1, bytes=200, total_bytes=200)


def test_ssml_is_stripped_from_the_words() -> None:
    sim = Sim(pace_transcript=False, strip_ssml=True)
    sim.feed(ip.TypedText("hi"), 0.0)
    for piece in ["<speak>Hi <bre", 'ak time="1s"/>there', "</speak>"]:
        sim.feed(ip.StreamInput(1, TranscriptDelta(piece)), 0.1)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 0.4)
    assert "".join(d.text for d in sim.of(ev.TranscriptDelta)) == "Hi there"


@given(text=st.text(min_size=1, max_size=80),
       cuts=st.lists(st.integers(0, 3 * REPLY_RATE), max_size=30),
       audio_s=st.floats(0.1, 3.0))
def test_paced_words_come_once_each_in_order(text: str, cuts: list[int], audio_s: float) -> None:
    """Whatever the progress reports, the words released concatenate to the reply."""
    sim = Sim()
    sim.feed(ip.TypedText("go"), 0.0)
    sim.reply(1, text, audio_s, 0.1, end=False)
    for i, heard in enumerate(sorted(cuts)):
        sim.feed(ip.PlaybackProgress(1, heard, 1.0 + i), 1.0 + i)
    sim.feed(ip.StreamInput(1, Done()), 50.0)
    sim.feed(ip.TurnFinished(1, ip.TurnReport()), 51.0)
    assert "".join(d.text for d in sim.of(ev.TranscriptDelta)) == text


def test_every_event_has_a_json_shape() -> None:
    sim = Sim(mute_while_replying=True, earcons=True)
    sim.speak(1.0, 2.0)
    sim.reply(1, "Yes.", 0.2, 3.0)
    sim.feed(ip.TurnFinished(1, ip.TurnReport(text="Yes.")), 4.0)
    sim.out.append(sim.core.summary())
    import json
    for out in sim.out:
        if isinstance(out, ev.Event):
            record = json.loads(json.dumps(out.to_dict()))
            assert record["type"] == out.type and ev.EVENT_TYPES[out.type] is type(out)
