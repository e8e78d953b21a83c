"""One turn as the core tracks it, and what the world is told about it. Pure.

Part of the turn-taking core (:mod:`.core`), which decides when a turn starts, is
cancelled or is over. A :class:`Request` is a turn waiting to start; a :class:`Turn`
is the one in progress: its reply (:class:`~.reply.ReplyTrack`) and the records it
owes the world as its stream goes on — what the user said (once), the reply's words,
tool calls, usage and audio, the interruption, the summary when it is done. Each
method appends them to the core's ``out``, in the order they must be published.
No I/O, no clock: times are the monotonic seconds the core is fed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..protocol.events import AudioDelta, InputTranscript, StreamEvent, ToolCallDelta, UsageReport
from .events import (
    AudioReceived,
    Event,
    Interrupted,
    ToolCallDone,
    ToolCallStarted,
    TranscriptDelta,
    TurnDone,
    UsageReported,
    UserSaid,
    UtteranceDetected,
)
from .inputs import CancelTurn, Command, TurnReport
from .latency import LatencyLog
from .reply import REPLY_SAMPLE_RATE, ReplyTrack

__all__ = ["Request", "Turn"]


@dataclass
class Request:
    """A turn waiting to start: its parts and what to tell the world about it."""
    parts: tuple[dict[str, Any], ...]
    user_text: str | None
    audio_s: float | None
    utterance: tuple[float, float, str] | None  # (start_s, end_s, reason) in capture time
    speech_end_at: float | None  # when the user stopped speaking (monotonic)
    submitted_at: float  # when the core learned of it


class Turn:
    """The turn in progress. One thread (the core's)."""

    def __init__(self, number: int, request: Request, started_at: float, strip_ssml: bool):
        self.number = number
        self.request = request
        self.started_at = started_at
        self.reply = ReplyTrack(strip_ssml=strip_ssml)
        self.cancelling = False
        self.user_said = False

    def announce(self, out: list[Command | Event]) -> None:
        """The turn is the user's: the utterance it answers, and a typed turn's text."""
        request = self.request
        if request.utterance is not None:
            start_s, end_s, reason = request.utterance
            out.append(UtteranceDetected(turn=self.number, start_s=round(start_s, 3),
                                         end_s=round(end_s, 3), reason=reason))
        if request.audio_s is None:
            self.tell_user_said(None, out)  # typed: known now; speech: with the answer

    def tell_user_said(self, transcript: str | None, out: list[Command | Event]) -> None:
        """The user's side of the turn, once: for speech, when the answer's first event
        came (the server may have said what it recognised) or the turn ended."""
        if self.user_said:
            return
        self.user_said = True
        r = self.request
        out.append(UserSaid(turn=self.number, text=r.user_text,
                            audio_s=None if r.audio_s is None else round(r.audio_s, 3),
                            transcript=transcript))

    def cancel(self, reason: str, now: float, out: list[Command | Event]) -> None:
        """Cancel the turn at ``now``: the history keeps what the listener heard."""
        self.tell_user_said(None, out)
        self.cancelling = True
        heard = self.reply.heard_by(now)
        heard_text = self.reply.heard_text(heard)
        out.append(CancelTurn(self.number, heard_text))
        played_ms = round(1000.0 * heard / REPLY_SAMPLE_RATE, 1)
        out.append(Interrupted(turn=self.number, text=heard_text, played_ms=played_ms,
                               reason=reason))

    def stream(self, ev: StreamEvent, pace_transcript: bool,
               out: list[Command | Event]) -> None:
        """One event of the turn's response stream (the turn is not being cancelled)."""
        if isinstance(ev, InputTranscript):
            self.tell_user_said(ev.text, out)
            return
        self.tell_user_said(None, out)
        words = self.reply.feed(ev)
        if isinstance(ev, ToolCallDelta) and ev.name:
            out.append(ToolCallStarted(turn=self.number, index=ev.index, name=ev.name))
        elif isinstance(ev, UsageReport):
            out.append(UsageReported(turn=self.number, usage=dict(ev.usage)))
        elif isinstance(ev, AudioDelta):
            out.append(AudioReceived(turn=self.number, bytes=len(ev.pcm),
                                     total_bytes=self.reply.audio_bytes))
        if words and not pace_transcript:
            self.say_words(self.reply.rest(), out)

    def say_words(self, text: str, out: list[Command | Event]) -> None:
        if text:
            out.append(TranscriptDelta(turn=self.number, text=text))

    def reply_over(self, report: TurnReport, out: list[Command | Event]) -> None:
        """The reply's stream ended (finished or failed): its last words, its tool calls."""
        self.reply.end()
        self.say_words(self.reply.rest(), out)
        for name, arguments, result in report.tool_calls:
            out.append(ToolCallDone(turn=self.number, name=name, arguments=arguments,
                                    result=result))

    def done(self, r: TurnReport, latency: LatencyLog) -> TurnDone:
        """The record of the finished turn (its latencies kept in ``latency``)."""
        request = self.request
        return latency.turn_done(self.number, r, speech_end_at=request.speech_end_at,
                                 submitted_at=request.submitted_at,
                                 first_sound_at=self.reply.first_sound_at,
                                 text=self.reply.text)
