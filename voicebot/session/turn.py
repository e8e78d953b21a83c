"""One conversational turn: request, stream, tools, history. Runs on the event loop.

:class:`Session` wires a :class:`~voicebot.session.conversation.Conversation`, a
:class:`~voicebot.session.client.ChatClient` and a
:class:`~voicebot.session.tools.ToolRegistry`. :meth:`Session.run_turn` sends the
user's parts, forwards every event to a :class:`TurnSink` as it arrives (playback,
printer), runs the tool calls the model asks for and asks again, so the user hears
one answer, and records the reply in the history.

When a turn fails, the rule for the history is "what happened in the world stays":
if nothing reached the user and no tool ran, the turn is undone (the caller may
re-run it as is); otherwise the user turn, the finished tool rounds and the part of
the reply already delivered stay, the reply as text. The error carries the partial
:class:`TurnResult` as ``err.partial``; :attr:`Session.last_result` has it as well
(also after a cancellation, e.g. barge-in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from voicebot.errors import VoicebotError
from voicebot.protocol.events import (
    AudioDelta,
    AudioInfo,
    Done,
    Finished,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TranscriptDelta,
    UsageReport,
)
from voicebot.protocol.request import build_request
from voicebot.protocol.toolcalls import ToolCall, ToolCallAccumulator
from voicebot.session.client import ChatClient, StreamStats
from voicebot.session.conversation import Conversation
from voicebot.session.tools import ToolRegistry

__all__ = ["RequestOptions", "Session", "TurnResult", "TurnSink", "TurnTimings",
           "ToolCallRecord"]


@dataclass
class RequestOptions:
    """What every request of a session asks for (see ``build_request``)."""
    model: str = "gpt-4o-audio-preview"
    voice: str | None = "alloy"
    modalities: tuple[str, ...] = ("text", "audio")
    audio_format: str = "pcm16"
    ssml_enabled: bool | None = None
    system_prompt: str | None = None
    context: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


class TurnSink(Protocol):
    """Receives a turn's events as they arrive, on the event loop thread.

    ``on_event`` must return quickly (queue audio, print text): it runs between two
    socket reads. Events of every request of the turn arrive in order; ``Done``
    comes once, at the end of the whole turn, never between tool rounds.
    ``audio_started`` becomes True once the user may have heard the reply's audio,
    which forbids retries (the user would hear the start twice).
    """

    audio_started: bool

    def on_event(self, event: StreamEvent) -> None: ...


@dataclass
class TurnTimings:
    """Monotonic seconds (the client's clock), taken at the socket edge."""
    request_sent: float | None = None
    first_byte: float | None = None
    first_audio: float | None = None
    done: float | None = None


@dataclass(frozen=True)
class ToolCallRecord:
    id: str
    name: str
    arguments: str
    result: str


@dataclass
class TurnResult:
    """Everything one turn produced; partial when attached to an error."""
    text: str = ""
    transcript: str = ""
    refusal: str = ""
    audio_bytes: int = 0
    audio_id: str | None = None
    expires_at: int | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    timings: TurnTimings = field(default_factory=TurnTimings)
    requests: int = 0
    recorded: bool = False  # the turn is in the history (False: re-run it as is)


class _Reply:
    """What one request of the turn answered."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.audio_id: str | None = None
        self.expires_at: int | None = None
        self.calls = ToolCallAccumulator()
        self.delivered = False


class Session:
    """A conversation with the API. Use from one event loop; one turn at a time.

    ``max_tool_rounds`` bounds how often one turn may run tools; the request after
    the last round asks for ``tool_choice: none`` so the model must answer.
    """

    def __init__(self, client: ChatClient, options: RequestOptions | None = None, *,
                 tools: ToolRegistry | None = None, conversation: Conversation | None = None,
                 max_tool_rounds: int = 4,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.options = options or RequestOptions()
        self.tools = tools
        self.conversation = conversation or Conversation(self.options.system_prompt)
        self.max_tool_rounds = max_tool_rounds
        self._wall_clock = wall_clock
        self.audio_started = False
        self.last_result: TurnResult | None = None

    def mark_audio_started(self) -> None:
        """Playback of this turn's audio began: no request of the turn is retried now."""
        self.audio_started = True

    def checkpoint(self) -> int:
        """A mark of the history now, for :meth:`rollback`."""
        return self.conversation.checkpoint()

    def rollback(self, mark: int) -> None:
        """Forget every turn recorded since ``mark`` (a preemptive turn the user did
        not take). Exchanges the history cap dropped meanwhile stay dropped."""
        self.conversation.rollback(mark)

    def note_heard(self, heard_transcript: str) -> None:
        """After an interruption: remember only the part of the last reply the user heard."""
        self.conversation.truncate_last_assistant(heard_transcript)

    async def run_turn(self, user_parts: Sequence[dict[str, Any]] | str, sink: TurnSink, *,
                       user_transcript: str | None = None,
                       before_tools: Callable[[], Awaitable[Any]] | None = None) -> TurnResult:
        """Send the user's content parts (or text) and stream the answer into ``sink``.

        ``before_tools`` is awaited before tools run (their effects are the world's):
        a preemptive turn waits there until the user's turn is confirmed.

        Returns the :class:`TurnResult` once the answer is complete and recorded.
        Raises a :class:`~voicebot.errors.VoicebotError` with ``.partial`` on failure.
        Cancel the task to interrupt: the HTTP stream closes at once.
        """
        self.audio_started = False
        result = TurnResult()
        self.last_result = result
        mark = self.conversation.checkpoint()
        self.conversation.add_user(user_parts, user_transcript)
        tool_rounds = 0
        reply = _Reply()
        try:
            while True:
                reply = _Reply()
                final_round = self.tools is None or tool_rounds >= self.max_tool_rounds
                await self._request(self._body(final_round), sink, reply, result)
                calls = reply.calls.calls()
                if not calls or final_round:
                    break
                if before_tools is not None:
                    await before_tools()
                # History gets the call and its results together, after the tools ran,
                # so a cancellation in between never leaves a call without a result.
                records = await self._run_tools(calls)
                self._record(reply, calls)
                for record in records:
                    self.conversation.add_tool_result(record.id, record.result)
                result.tool_calls.extend(records)
                tool_rounds += 1
        except BaseException as exc:
            self._settle_failure(mark, reply, result, tool_rounds)
            if isinstance(exc, VoicebotError):
                exc.partial = result
            raise
        self._record(reply, ())
        result.recorded = True
        sink.on_event(Done())
        return result

    # -- one request -----------------------------------------------------------------

    def _body(self, final_round: bool) -> dict[str, Any]:
        o = self.options
        use_tools = self.tools is not None and len(self.tools) > 0
        return build_request(
            self.conversation.messages(self._wall_clock()), model=o.model,
            modalities=o.modalities, voice=o.voice, audio_format=o.audio_format,
            ssml_enabled=o.ssml_enabled, context=o.context,
            tools=self.tools.specs() if use_tools and self.tools is not None else None,
            tool_choice=("none" if final_round else o.tool_choice) if use_tools else None,
            parallel_tool_calls=o.parallel_tool_calls if use_tools else None,
            response_format=o.response_format, extra=o.extra)

    async def _request(self, body: dict[str, Any], sink: TurnSink, reply: _Reply,
                       result: TurnResult) -> None:
        stats = StreamStats()
        result.requests += 1

        def may_retry() -> bool:
            return not (self.audio_started or sink.audio_started)

        try:
            async with aclosing(self.client.stream(body, stats=stats,
                                                   may_retry=may_retry)) as events:
                async for event in events:
                    _accumulate(event, reply, result)
                    if not isinstance(event, Done):
                        sink.on_event(event)
        finally:
            t = result.timings
            if t.request_sent is None:
                t.request_sent, t.first_byte = stats.request_sent, stats.first_byte
            if t.first_audio is None:
                t.first_audio = stats.first_audio
            t.done = stats.done

    async def _run_tools(self, calls: list[ToolCall]) -> list[ToolCallRecord]:
        assert self.tools is not None
        outputs = await asyncio.gather(*(self.tools.call(c.name, c.arguments) for c in calls))
        return [ToolCallRecord(c.id, c.name, c.arguments, out) for c, out in zip(calls, outputs)]

    # -- history -----------------------------------------------------------------------

    def _record(self, reply: _Reply, calls: Sequence[ToolCall]) -> None:
        self.conversation.add_assistant("".join(reply.text), "".join(reply.transcript),
                                        reply.audio_id, reply.expires_at, calls)

    def _settle_failure(self, mark: int, reply: _Reply, result: TurnResult,
                        tool_rounds: int) -> None:
        delivered = reply.delivered or self.audio_started
        if not delivered and tool_rounds == 0:
            self.conversation.rollback(mark)
            return
        if delivered:
            # Partial audio may not be referenceable: keep what was said as text.
            self.conversation.add_assistant("".join(reply.text), "".join(reply.transcript))
        result.recorded = True


def _accumulate(event: StreamEvent, reply: _Reply, result: TurnResult) -> None:
    if isinstance(event, AudioDelta):
        result.audio_bytes += len(event.pcm)
        reply.delivered = True
    elif isinstance(event, TranscriptDelta):
        reply.transcript.append(event.text)
        result.transcript += event.text
        reply.delivered = True
    elif isinstance(event, TextDelta):
        reply.text.append(event.text)
        result.text += event.text
        reply.delivered = True
    elif isinstance(event, ToolCallDelta):
        reply.calls.feed(event)
    elif isinstance(event, AudioInfo):
        if event.audio_id is not None:
            reply.audio_id = result.audio_id = event.audio_id
        if event.expires_at is not None:
            reply.expires_at = result.expires_at = event.expires_at
    elif isinstance(event, Finished):
        result.finish_reason = event.reason
    elif isinstance(event, RefusalDelta):
        result.refusal += event.text
        reply.delivered = True
    elif isinstance(event, UsageReport):
        _add_usage(result.usage, event.usage)


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Sum token counts of several requests, nested details included."""
    for key, value in usage.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add_usage(total.setdefault(key, {}), value)
