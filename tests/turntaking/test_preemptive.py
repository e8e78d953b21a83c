"""Preemptive turns in the core: sent on a pause, confirmed by the end, discarded when
speech resumes. No event loop, simulated time (see test_core.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.capture.segmenter import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)
from voicebot.protocol.events import AudioDelta, Done, TranscriptDelta
from test_core import Sim as CoreSim
from voicebot.turntaking import events as ev
from voicebot.turntaking import inputs as ip

RATE = 16_000
TAIL_S = 0.3
PAUSE_S = 0.24
HANGOVER_S = 0.42


class Sim(CoreSim):
    """test_core's simulator with preemptive turns on and the segmenter's own tail."""

    def __init__(self, **policy: Any) -> None:
        policy.setdefault("vad_tail_ms", int(TAIL_S * 1000))
        policy.setdefault("preemptive", True)
        super().__init__(**policy)

    def detect(self, event: Any, t: float) -> list[Any]:
        return self.feed(ip.Detected(event, int(t * RATE), t), t)


def _pcm(start_s: float, end_s: float) -> bytes:
    return b"\0\0" * (int(end_s * RATE) - int(start_s * RATE))


def _paused(start_s: float, voiced_end_s: float) -> SpeechPaused:
    end_s = voiced_end_s + min(PAUSE_S, TAIL_S)
    return SpeechPaused(_pcm(start_s, end_s), int(start_s * RATE), int(end_s * RATE))


def _ended(start_s: float, voiced_end_s: float) -> UtteranceEnded:
    end_s = voiced_end_s + TAIL_S
    return UtteranceEnded(_pcm(start_s, end_s), int(start_s * RATE), int(end_s * RATE),
                          "silence")


def _kinds(outputs: list[Any]) -> list[str]:
    return [type(o).__name__ for o in outputs]


def test_the_pause_that_ends_the_turn_confirms_the_answer_sent_in_it() -> None:
    sim = Sim(mute_while_replying=True)
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    got = sim.detect(_paused(0.7, 2.0), 2.0 + PAUSE_S)
    # Only the request: nothing the user sees, capture not muted (they may go on).
    assert _kinds(got) == ["StartTurn"] and got[0].preemptive and got[0].turn == 1
    assert sim.core.state == "listening" and sim.core.turn is None
    decided = 2.0 + HANGOVER_S
    got = sim.detect(_ended(0.7, 2.0), decided)
    assert _kinds(got) == ["UtteranceDetected", "SetMuted", "ConfirmTurn", "StateChanged"]
    assert got[2] == ip.ConfirmTurn(1) and sim.core.turn == 1 and sim.core.state == "thinking"
    assert len(sim.of(ip.StartTurn)) == 1
    sim.feed(ip.StreamInput(1, TranscriptDelta("It is noon.")), decided + 0.01)
    sim.feed(ip.StreamInput(1, AudioDelta(b"\0\0" * 2400)), decided + 0.01)
    sim.feed(ip.StreamInput(1, Done()), decided + 0.01)
    sent = 2.0 + PAUSE_S + 0.001
    report = ip.TurnReport(text="It is noon.", requests=1, request_sent=sent,
                           first_byte=sent + 0.2, first_audio=sent + 0.25, done=sent + 0.3,
                           first_sound=decided + 0.05)
    sim.feed(ip.TurnFinished(1, report), decided + 1.0)
    lat = sim.of(ev.TurnDone)[0].latency_ms
    # The request left before the end of the turn was decided.
    assert lat["endpoint"] == round(HANGOVER_S * 1000, 1)
    assert lat["request_sent"] == round((PAUSE_S + 0.001) * 1000, 1) < lat["endpoint"]
    assert lat["first_sound"] == round((HANGOVER_S + 0.05) * 1000, 1)
    assert sim.core.summary().preemptive == {"sent": 1, "discarded": 0}


def test_speech_that_resumes_discards_it_and_the_whole_utterance_is_the_turn() -> None:
    sim = Sim()
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    sim.detect(_paused(0.7, 2.0), 2.0 + PAUSE_S)
    got = sim.detect(SpeechResumed(int(0.7 * RATE), int(2.35 * RATE)), 2.38)
    assert got == [ip.DiscardTurn(1)]
    # The utterance ends before the discarded turn's task has: the turn waits for it,
    # and the new pause is no occasion for another preemptive request meanwhile.
    assert sim.detect(_paused(0.7, 3.0), 3.0 + PAUSE_S) == []
    got = sim.detect(_ended(0.7, 3.0), 3.0 + HANGOVER_S)
    assert _kinds(got) == []
    got = sim.feed(ip.TurnCancelled(1), 3.5)
    start = next(o for o in got if isinstance(o, ip.StartTurn))
    assert start.turn == 1 and not start.preemptive
    assert len(start.parts[0]["input_audio"]["data"]) > len(
        sim.of(ip.StartTurn)[0].parts[0]["input_audio"]["data"])
    assert [e.turn for e in sim.of(ev.UtteranceDetected)] == [1]
    assert sim.core.summary().preemptive == {"sent": 1, "discarded": 1}


def test_no_preemptive_request_while_a_turn_runs_or_when_off_or_gated() -> None:
    sim = Sim()
    sim.feed(ip.TypedText("hi"), 0.0)
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    assert sim.detect(_paused(0.7, 2.0), 2.3) == []
    for policy in ({"preemptive": False}, {"wake_word": True}, {"push_to_talk": True}):
        sim = Sim(**policy)
        sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
        assert sim.detect(_paused(0.7, 2.0), 2.3) == []


def test_typed_text_comes_first_and_discards_it() -> None:
    sim = Sim()
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    sim.detect(_paused(0.7, 2.0), 2.3)
    got = sim.feed(ip.TypedText("stop"), 2.35)
    assert got == [ip.DiscardTurn(1)]
    got = sim.feed(ip.TurnCancelled(1), 2.36)
    assert ip.StartTurn(1, sim.of(ip.StartTurn)[1].parts, "stop") in got


def test_muted_or_ended_input_discards_it() -> None:
    sim = Sim()
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    sim.detect(_paused(0.7, 2.0), 2.3)
    assert sim.detect(UtteranceDiscarded(int(0.7 * RATE), int(2.3 * RATE), "muted"), 2.4) == [
        ip.DiscardTurn(1)]
    sim = Sim()
    sim.detect(SpeechStarted(int(0.7 * RATE)), 1.3)
    sim.detect(_paused(0.7, 2.0), 2.3)
    assert sim.feed(ip.InputEnded(), 2.4) == [ip.DiscardTurn(1)]
    got = sim.feed(ip.TurnCancelled(1), 2.5)
    assert got[-1] == ip.Stop("input_ended")


# Speech as the capture reports it: per utterance, a list of pauses, each resumed or not
# (the last one not resumed ends the utterance), the driver ending discarded tasks
# after a random delay.
utterances = st.lists(st.lists(st.booleans(), min_size=1, max_size=4), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(plan=utterances, cancel_delay=st.integers(0, 3), finish=st.booleans())
def test_every_preemptive_turn_is_confirmed_or_discarded_once(plan: list[list[bool]],
                                                              cancel_delay: int,
                                                              finish: bool) -> None:
    """Whatever the pauses: each utterance becomes exactly one turn, in order; each
    preemptive request is settled exactly once; a discarded one is never shown."""
    sim = Sim(mute_while_replying=True)
    t = 1.0
    pending_cancel: list[tuple[int, int]] = []  # (turn, steps left)
    running: int | None = None  # the turn whose task the driver runs

    def step(outputs: list[Any]) -> None:
        nonlocal running
        for o in outputs:
            if isinstance(o, ip.StartTurn):
                assert running is None, "a task started while another runs"
                running = o.turn
            elif isinstance(o, ip.DiscardTurn):
                assert running == o.turn
                pending_cancel.append((o.turn, cancel_delay))

    def tick() -> None:
        nonlocal t, running
        t = round(t + 0.05, 3)
        for i, (turn, left) in enumerate(list(pending_cancel)):
            if left == 0:
                pending_cancel.remove((turn, left))
                running = None
                step(sim.feed(ip.TurnCancelled(turn), t))
            else:
                pending_cancel[i] = (turn, left - 1)
        if finish and running is not None and sim.core.turn == running:
            done, running = running, None
            step(sim.feed(ip.TurnFinished(done, ip.TurnReport()), t))

    for pauses in plan:
        start = t
        step(sim.detect(SpeechStarted(int(start * RATE)), t + 0.3))
        t += 0.3
        for resumed in pauses:
            t += 0.5
            voiced_end = t
            tick()
            step(sim.detect(_paused(start, voiced_end), t + PAUSE_S))
            tick()
            if resumed:
                step(sim.detect(SpeechResumed(int(start * RATE), int((t + 0.3) * RATE)),
                                t + 0.3))
                t += 0.3
                tick()
        step(sim.detect(_ended(start, voiced_end), voiced_end + HANGOVER_S))
        t = voiced_end + HANGOVER_S
        for _ in range(6):
            tick()
    for _ in range(10):
        tick()
    starts = sim.of(ip.StartTurn)
    confirms = sim.of(ip.ConfirmTurn)
    discards = sim.of(ip.DiscardTurn)
    pre = [s for s in starts if s.preemptive]
    assert len(pre) == len(confirms) + len(discards)
    detected = sim.of(ev.UtteranceDetected)
    turns_started = len([s for s in starts if not s.preemptive]) + len(confirms)
    assert len(detected) == turns_started
    assert [d.turn for d in detected] == list(range(1, len(detected) + 1))
    if finish:
        assert len(detected) == len(plan)
    summary = sim.core.summary().preemptive
    assert summary == {"sent": len(pre), "discarded": len(discards)}
    # Capture is muted only for turns that are the user's: as often as turns began.
    assert len([m for m in sim.of(ip.SetMuted) if m.muted]) == turns_started
