"""The turn-taking core: who speaks when, decided once for every transport. Pure.

A plain object. Feed it what happened (:mod:`.inputs`) with the current time;
it answers with commands for the driver (start or cancel a turn, mute capture,
play an earcon, say something, stop, feed it a :class:`~.inputs.Tick` at a given
time) and event records for the world (:mod:`.events`), in the order they must be
carried out. No I/O, no clock, no asyncio: the desktop CLI, each websocket
connection and the kiosk drive the same object, and tests drive it with no event
loop at all.

The rules, for every :class:`~.policy.Policy`:

- An utterance (or typed text) becomes a turn when no turn is running; otherwise it
  waits, in order. Gating first (:mod:`.gates`): with ``wake_word`` it counts only
  after a wake word or within the follow-up window (the state says "listening" until
  the window closes, then "sleeping"); with ``push_to_talk`` only if the button was held.
- Half-duplex (``mute_while_replying``): capture is muted from the start of a turn
  until it is over.
- Barge-in (:mod:`.bargein`): speech over an audible reply that lasts ``barge_in_ms``
  (counted from the later of its detection and the reply's first sound + grace)
  cancels the turn; the history keeps what the listener heard, placed by the playback
  position. Speech over the reply that ends sooner is a backchannel when shorter than
  ``backchannel_ms``.
- Preemptive turns (``preemptive``, :mod:`.preemptive`): when the user's speech pauses
  and nothing else is going on, the utterance so far is sent at once; the answer is
  held back. If the utterance then ends in that pause, the held answer becomes the turn
  (the request left before the end of the turn was decided); if speech resumes (or
  anything else is submitted first), it is discarded, unheard and unrecorded, and the
  utterance goes on. Nothing the world sees marks a discarded one but the summary's count.
- A failed turn is reported and the conversation goes on listening. What the world is
  told about the turn in progress (what the user said, the reply's words, tool calls,
  the interruption) is its :class:`~.turn.Turn`'s.
- Latency per turn, each stage after the end of the user's speech, and a summary.
"""

from __future__ import annotations

from collections import deque
from typing import Union

from ..capture.events import (
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)
from ..capture.segmenter import SAMPLE_RATE as CAPTURE_RATE
from ..protocol.request import input_audio_part, text_part
from .bargein import BargeIn
from .events import (
    ErrorEvent,
    Event,
    StateChanged,
    Summary,
    TimerFired,
    UtteranceIgnored,
)
from .gates import Gates
from .inputs import (
    Command,
    ConfirmTurn,
    Detected,
    Input,
    InputEnded,
    InterruptRequest,
    PlaybackProgress,
    PlayEarcon,
    PushToTalk,
    Say,
    SetMuted,
    StartTurn,
    Stop,
    StreamInput,
    Tick,
    TimerDue,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TypedText,
    UserParts,
    WakeAt,
    WakeWord,
    WakeWordEnd,
)
from .latency import LatencyLog
from .policy import Policy
from .preemptive import Preemption, Preemptive
from .turn import Request, Turn
from ..audio.wav import encode_wav

__all__ = ["TurnTaking", "Output"]

Output = Union[Command, Event]


def _ignored(ev: UtteranceEnded, reason: str) -> UtteranceIgnored:
    return UtteranceIgnored(start_s=round(ev.start_sample / CAPTURE_RATE, 3),
                            end_s=round(ev.end_sample / CAPTURE_RATE, 3), reason=reason)


class TurnTaking:
    """The state of one conversation's turn-taking. Use from one thread.

    :meth:`feed` takes an input and the current monotonic time and returns outputs:
    commands (:data:`~.inputs.Command`) and events (:class:`~.events.Event`).
    The driver carries out commands in order and publishes events in order.
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._turns = 0
        self._active: Turn | None = None
        self._waiting: deque[Request] = deque()
        self._muted = False
        self._ending = False
        self._stopped = False
        self._state = ""
        self._barge_in = BargeIn(self.policy)
        # When the utterance being spoken began, pre-roll included (None: none is).
        self._hearing_from: float | None = None
        self._gates = Gates(self.policy)
        self._wake_at: float | None = None  # the last WakeAt asked for
        self._latency = LatencyLog()
        self._preemption = Preemption()

    # ------------------------------------------------------------------ queries

    @property
    def turn(self) -> int | None:
        """The number of the turn in progress (None: none)."""
        return None if self._active is None else self._active.number

    @property
    def state(self) -> str:
        return self._state

    @property
    def stopped(self) -> bool:
        return self._stopped

    def start(self) -> list[Output]:
        """The first outputs: the initial state."""
        return self._set_state(self._idle_state(float("-inf")))

    def summary(self) -> Summary:
        """p50/p95 of each latency stage over the finished turns (ms)."""
        pre = self._preemption
        return self._latency.summary({"sent": pre.sent, "discarded": pre.discarded})

        # ------------------------------------------------------------------ the one entry

    def feed(self, event: Input, now: float) -> list[Output]:
        """Take one input that happened by ``now`` (monotonic seconds); return outputs."""
        if self._stopped:
            return []
        out: list[Output] = []
        if isinstance(event, Detected):
            self._detected(event, now, out)
        elif isinstance(event, PlaybackProgress):
            self._progress(event, out)
        elif isinstance(event, StreamInput):
            self._stream(event, out)
        elif isinstance(event, (TurnFinished, TurnFailed, TurnCancelled)):
            self._turn_over(event, now, out)
        elif isinstance(event, TypedText):
            self._submit(Request((text_part(event.text),), event.text, None, None, None, now),
                         now, out)
        elif isinstance(event, UserParts):
            self._submit(Request(event.parts, event.text, event.audio_s, None, None, now),
                         now, out)
        elif isinstance(event, InterruptRequest):
            self._interrupt("request", now, out)
        elif isinstance(event, WakeWord):
            self._gates.wake_word(event.position, now)
            if self.policy.earcons:
                out.append(PlayEarcon("wake"))
            self._interrupt("wake_word", now, out)
            out += self._refresh_idle_state(now)
        elif isinstance(event, WakeWordEnd):
            self._gates.wake_word_end(event.position)
        elif isinstance(event, PushToTalk):
            self._gates.push_to_talk(event.pressed, event.at)
            if event.pressed:
                self._interrupt("push_to_talk", now, out)
            out += self._refresh_idle_state(now)
        elif isinstance(event, TimerDue):
            out.append(TimerFired(id=event.id, label=event.label, text=event.text))
            if self.policy.earcons:
                out.append(PlayEarcon("timer"))
            out.append(Say(event.text))
        elif isinstance(event, Tick):
            self._wake_at = None  # it came (a timer may fire a little early: asked again)
            out += self._refresh_idle_state(now)
        elif isinstance(event, InputEnded):
            self._ending = True
            self._discard_preemptive(out)
            self._maybe_next(now, out)
        wake_at = self._gates.next_change(now)
        if wake_at is not None and wake_at != self._wake_at:
            self._wake_at = wake_at  # a window closes then: sleeping again, with no input
            out.append(WakeAt(wake_at))
        return out

    # ------------------------------------------------------------------ capture

    def _detected(self, d: Detected, now: float, out: list[Output]) -> None:
        ev = d.event
        if isinstance(ev, SpeechStarted):
            self._barge_in.speech_started(d)
            self._hearing_from = d.time_of(ev.start_sample)
        elif isinstance(ev, (UtteranceEnded, UtteranceDiscarded)):
            self._barge_in.speech_over()
            self._hearing_from = None
        turn = self._active
        if (d.voiced_end is not None and turn is not None
                and self._barge_in.interrupts(turn, d.time_of(d.voiced_end))):
            turn.cancel("barge_in", now, out)
        if isinstance(ev, SpeechPaused):
            self._preempt(ev, now, out)
        elif isinstance(ev, (SpeechResumed, UtteranceDiscarded)):
            self._discard_preemptive(out)
            if isinstance(ev, UtteranceDiscarded):
                out += self._refresh_idle_state(now)  # no question after all
        elif isinstance(ev, UtteranceEnded):
            pre = self._preemption.take(ev.start_sample)
            if pre is not None:
                self._confirm(pre, ev, d, now, out)
            else:
                self._discard_preemptive(out)
                self._utterance(ev, d, now, out)

    def _utterance(self, ev: UtteranceEnded, d: Detected, now: float, out: list[Output]) -> None:
        time_of = d.time_of
        start_s, end_s = ev.start_sample / CAPTURE_RATE, ev.end_sample / CAPTURE_RATE
        tail = self.policy.vad_tail_ms * CAPTURE_RATE // 1000 if ev.reason == "silence" else 0
        speech_end_at = time_of(ev.end_sample - tail)
        if self._barge_in.backchannel(self._active, start_s, end_s):
            out.append(_ignored(ev, "backchannel"))
            return
        admitted = self._gates.admit(ev, time_of, now)
        if isinstance(admitted, str):
            out.append(_ignored(ev, admitted))
            out += self._refresh_idle_state(now)
            return
        pcm, start = admitted
        audio_s = len(pcm) / 2 / CAPTURE_RATE
        request = Request((input_audio_part(encode_wav(pcm, CAPTURE_RATE)),), None, audio_s,
                           (start / CAPTURE_RATE, end_s, ev.reason), speech_end_at, now)
        self._submit(request, now, out)

    # ------------------------------------------------------------------ preemptive turns

    def _preempt(self, ev: SpeechPaused, now: float, out: list[Output]) -> None:
        """The user paused: send what they said so far if nothing else is going on."""
        p = self.policy
        limit = p.max_turns
        if (not p.preemptive or p.wake_word or p.push_to_talk or self._stopped
                or self._active is not None or self._waiting or self._preemption.busy
                or (limit is not None and self._turns >= limit)):
            return
        parts = (input_audio_part(encode_wav(ev.pcm, CAPTURE_RATE)),)
        out.append(self._preemption.send(Preemptive(self._turns + 1, ev.start_sample, parts,
                                                    len(ev.pcm) / 2 / CAPTURE_RATE)))

    def _discard_preemptive(self, out: list[Output]) -> None:
        """Speech went on (or something else came first): drop the preemptive turn."""
        discard = self._preemption.discard()
        if discard is not None:
            out.append(discard)

    def _confirm(self, pre: Preemptive, ev: UtteranceEnded, d: Detected, now: float,
                 out: list[Output]) -> None:
        """The utterance ended in the pause the preemptive turn was sent in: it is the turn."""
        start_s, end_s = ev.start_sample / CAPTURE_RATE, ev.end_sample / CAPTURE_RATE
        tail = self.policy.vad_tail_ms * CAPTURE_RATE // 1000 if ev.reason == "silence" else 0
        request = Request(pre.parts, None, pre.audio_s, (start_s, end_s, ev.reason),
                           d.time_of(ev.end_sample - tail), now)
        self._turns += 1
        self._begin(Turn(pre.number, request, now, self.policy.strip_ssml),
                    ConfirmTurn(pre.number), out)

    # ------------------------------------------------------------------ turns

    def _submit(self, request: Request, now: float, out: list[Output]) -> None:
        self._discard_preemptive(out)  # what comes first goes first
        self._waiting.append(request)
        self._maybe_next(now, out)

    def _maybe_next(self, now: float, out: list[Output]) -> None:
        if self._active is not None or self._stopped or self._preemption.discarding:
            return
        limit = self.policy.max_turns
        if limit is not None and self._turns >= limit:
            self._stop("max_turns", out)
            return
        if not self._waiting:
            if self._ending:
                self._stop("input_ended", out)
            return
        request = self._waiting.popleft()
        self._turns += 1
        turn = Turn(self._turns, request, now, self.policy.strip_ssml)
        self._begin(turn, StartTurn(turn.number, request.parts, request.user_text), out)

    def _begin(self, turn: Turn, command: StartTurn | ConfirmTurn, out: list[Output]) -> None:
        """Turn ``turn`` is the user's: tell the world, and start (or release) it."""
        self._active = turn
        turn.announce(out)
        if self.policy.mute_while_replying and not self._muted:
            self._muted = True
            out.append(SetMuted(True))
        if self.policy.earcons:
            out.append(PlayEarcon("thinking"))
        out.append(command)
        out += self._set_state("thinking")

    def _stop(self, reason: str, out: list[Output]) -> None:
        self._stopped = True
        out.append(self.summary())
        out.append(Stop(reason))

    def _interrupt(self, reason: str, now: float, out: list[Output]) -> None:
        turn = self._active
        if turn is not None and not turn.cancelling:
            turn.cancel(reason, now, out)

    def _stream(self, s: StreamInput, out: list[Output]) -> None:
        turn = self._active
        if turn is None or turn.number != s.turn or turn.cancelling:
            return  # a late event of a turn that is over: nothing to say about it
        turn.stream(s.event, self.policy.pace_transcript, out)

    def _progress(self, p: PlaybackProgress, out: list[Output]) -> None:
        turn = self._active
        if turn is None or turn.number != p.turn or turn.cancelling:
            return
        turn.reply.heard(p.heard_samples, p.at)
        if p.heard_samples > 0 and self._state == "thinking":
            out += self._set_state("speaking")
        if self.policy.pace_transcript:
            turn.say_words(turn.reply.due(p.heard_samples), out)

    def _turn_over(self, ev: TurnFinished | TurnFailed | TurnCancelled, now: float,
                   out: list[Output]) -> None:
        if isinstance(ev, TurnCancelled) and self._preemption.task_ended(ev.turn):
            self._maybe_next(now, out)  # the discarded one's number may be used again
            return
        turn = self._active
        if turn is None or turn.number != ev.turn:
            return
        self._active = None
        turn.tell_user_said(None, out)
        if not isinstance(ev, TurnCancelled):
            turn.reply_over(ev.report, out)
        if isinstance(ev, TurnFinished):
            out.append(turn.done(ev.report, self._latency))
            if self.policy.earcons:
                out.append(PlayEarcon("done"))
        elif isinstance(ev, TurnFailed):
            out.append(ErrorEvent(message=ev.message, turn=turn.number))
            if self.policy.earcons:
                out.append(PlayEarcon("error"))
        if self._muted:
            self._muted = False
            out.append(SetMuted(False))
        if not isinstance(ev, TurnCancelled):
            self._gates.reply_over(now)
        out += self._set_state(self._idle_state(now))
        self._maybe_next(now, out)

    # ------------------------------------------------------------------ state

    def _idle_state(self, now: float) -> str:
        # A question begun before its window closed still counts while it is spoken.
        hearing = self._hearing_from is not None and self._gates.takes(self._hearing_from, now)
        return "sleeping" if self._gates.closed(now) and not hearing else "listening"

    def _refresh_idle_state(self, now: float) -> list[Output]:
        """A gate opened or closed: between turns, sleeping or listening may change."""
        return [] if self._active is not None else self._set_state(self._idle_state(now))

    def _set_state(self, state: str) -> list[Output]:
        if state == self._state:
            return []
        self._state = state
        return [StateChanged(state=state)]
