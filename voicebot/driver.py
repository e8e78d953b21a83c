"""The asyncio driver: one conversation's turn-taking core, carried out.

::

    capture reports ─┐                       ┌─▶ session.run_turn (a task per turn) ─▶ API
    typed text ──────┼─▶ TurnTaking.feed() ──┼─▶ sinks (speaker, WAV, a client's socket)
    timers, clicks ──┘     (decides)         ├─▶ mute capture, earcons, say
    playback progress ◀── sinks              └─▶ event subscribers (console, --json, bridge)

The core decides; this module only moves data between it and the world. Everything
runs on the event loop's thread: inputs are fed synchronously from the tasks and
callbacks that learn of them, and the outputs are carried out in order at once.
Many drivers run in one process, one per conversation; they share nothing but the
HTTP connection pool their sessions were given.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence

from .aio import cancel_and_wait
from .capture.mic import CaptureReport
from .errors import ConnectError, VoicebotError
from .playback.sinks import Sink
from .protocol.events import AudioDelta, StreamEvent
from .session.turn import Session, TurnResult
from .turntaking import Output, TurnTaking
from .turntaking.events import Event
from .turntaking.inputs import (
    CancelTurn,
    ConfirmTurn,
    Detected,
    DiscardTurn,
    Input,
    InputEnded,
    PlaybackProgress,
    PlayEarcon,
    Say,
    SetMuted,
    StartTurn,
    Stop,
    StreamInput,
    Tick,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnReport,
    WakeAt,
)

__all__ = ["Driver", "Subscriber"]

Subscriber = Callable[[Event], None]


class _TurnSink:
    """The session's view of one turn: stream events to the sinks and to the core.

    A preemptive turn's sink holds every event back until :meth:`release` (the core
    confirmed the turn), then passes on what it held, in order, and all that follows.
    """

    def __init__(self, driver: Driver, turn: int, *, held: bool = False) -> None:
        self._driver = driver
        self._turn = turn
        self.audio_started = False  # read by the session: no retry once audio played
        self._held: list[StreamEvent] | None = [] if held else None
        self.released = asyncio.Event()
        if not held:
            self.released.set()

    def on_event(self, event: StreamEvent) -> None:
        """Loop thread; returns quickly (queues audio, feeds the core)."""
        if self._held is not None:
            self._held.append(event)
            return
        d = self._driver
        if isinstance(event, AudioDelta):
            for sink in d.sinks:
                sink.push_pcm16(event.pcm)
            self.audio_started = self.audio_started or d.listener is not None
        d.feed(StreamInput(self._turn, event))

    def release(self) -> None:
        """Loop thread: the turn is the user's; pass on what was held back."""
        held, self._held = self._held, None
        self.released.set()
        for event in held or ():
            self.on_event(event)


class Driver:
    """Carries out one conversation's :class:`TurnTaking` core. Loop thread only.

    ``sinks`` receive every reply's audio; the first audible one (a speaker, a
    client's player) is the listener whose playback position paces the words and
    places barge-in. ``subscribers`` receive every event record. ``mute`` turns
    capture off and on; ``say`` and ``earcon`` speak or sound for the user (absent:
    the event records still tell). Exceptions of the ``fatal`` types end the
    conversation (:meth:`run` raises them); any other failure of a turn is
    reported and the conversation goes on (``turn_failed`` gets the exception
    first: the kiosk watches for an unreachable server).
    """

    def __init__(self, core: TurnTaking, session: Session, *, sinks: Sequence[Sink] = (),
                 subscribers: Sequence[Subscriber] = (),
                 mute: Callable[[bool], None] | None = None,
                 say: Callable[[str], None] | None = None,
                 earcon: Callable[[str], None] | None = None,
                 fatal: tuple[type[BaseException], ...] = (ConnectError,),
                 turn_failed: Callable[[VoicebotError], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 progress_interval_s: float = 0.03) -> None:
        self.core = core
        self.session = session
        self.sinks = list(sinks)
        self.listener: Sink | None = next((s for s in self.sinks if s.audible), None)
        self.subscribers = list(subscribers)
        self._mute = mute
        self._say = say
        self._earcon = earcon
        self._fatal_types = fatal
        self._turn_failed = turn_failed
        self._clock = clock
        self._interval = progress_interval_s
        self._turn_task: asyncio.Task[None] | None = None
        self._turn_number: int | None = None
        self._turn_sink: _TurnSink | None = None
        self._progress_task: asyncio.Task[None] | None = None
        self._cancel_requested: dict[int, str | None] = {}
        self._discard_requested: set[int] = set()
        self._stopped: asyncio.Event | None = None
        self._tick: asyncio.TimerHandle | None = None  # the core's WakeAt
        self._ticking = True
        self._failure: BaseException | None = None
        #: The exit code of the last failed turn (0: none failed).
        self.exit_code = 0

    # ------------------------------------------------------------------ inputs

    def feed(self, event: Input) -> None:
        """Feed the core one input now and carry out what it answers. Loop thread."""
        self._carry_out(self.core.feed(event, self._clock()))

    def publish(self, event: Event) -> None:
        """Send an event record to every subscriber (also records of the driver's own)."""
        for subscriber in self.subscribers:
            subscriber(event)

    async def run(self, reports: AsyncIterator[CaptureReport] | None = None, *,
                  inputs: Sequence[Input] = ()) -> None:
        """Run until the core says stop: capture reports (if any) feed it meanwhile.

        ``inputs`` are fed once the conversation has started (``ask``: its one turn,
        then :class:`~voicebot.turntaking.inputs.InputEnded`); other tasks may feed
        more with :meth:`feed` while it runs. Raises a fatal failure
        (the configured types, a failing capture source); on return or on
        cancellation the turn in progress and the capture are stopped.
        """
        self._stopped = asyncio.Event()
        self._ticking = True
        capture = None
        try:
            self._carry_out(self.core.start())
            for event in inputs:
                self.feed(event)
            if reports is not None:
                capture = asyncio.create_task(self._capture(reports))
            if not self.core.stopped:
                await self._stopped.wait()
            if self._failure is not None:
                raise self._failure
        finally:
            self._ticking = False  # inputs fed while it stops ask for no more ticks
            self._cancel_tick()
            if capture is not None:
                await cancel_and_wait(capture)
            await self._stop_turn()
            if not self.core.stopped:  # Ctrl-C, a failure: the figures so far still count
                self.publish(self.core.summary())

    async def _capture(self, reports: AsyncIterator[CaptureReport]) -> None:
        try:
            async for r in reports:
                self.feed(Detected(r.event, r.position, r.at, r.voiced_end))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the source failed: the conversation ends
            self._fail(exc)
            return
        self.feed(InputEnded())

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        if self._stopped is not None:
            self._stopped.set()

    # ------------------------------------------------------------------ outputs

    def _carry_out(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Event):
                self.publish(out)
            elif isinstance(out, StartTurn):
                self._start_turn(out)
            elif isinstance(out, CancelTurn):
                self._cancel_turn(out)
            elif isinstance(out, ConfirmTurn):
                if self._turn_sink is not None and self._turn_number == out.turn:
                    self._turn_sink.release()
            elif isinstance(out, DiscardTurn):
                self._discard_turn(out.turn)
            elif isinstance(out, SetMuted):
                if self._mute is not None:
                    self._mute(out.muted)
            elif isinstance(out, PlayEarcon):
                if self._earcon is not None:
                    self._earcon(out.name)
            elif isinstance(out, Say):
                if self._say is not None:
                    self._say(out.text)
            elif isinstance(out, Stop):
                if self._stopped is not None:
                    self._stopped.set()
            elif isinstance(out, WakeAt):
                self._wake_at(out.at)

    def _wake_at(self, at: float) -> None:
        """Feed the core a Tick at ``at`` (this driver's clock), instead of any earlier."""
        self._cancel_tick()
        if self._ticking:
            self._tick = asyncio.get_running_loop().call_later(max(0.0, at - self._clock()),
                                                               self._on_tick)

    def _cancel_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _on_tick(self) -> None:
        self._tick = None
        try:
            self.feed(Tick())
        except BaseException as exc:  # noqa: BLE001 - a loop callback: handed to run()
            self._fail(exc)

    def _start_turn(self, cmd: StartTurn) -> None:
        self._turn_number = cmd.turn
        self._turn_sink = _TurnSink(self, cmd.turn, held=cmd.preemptive)
        self._turn_task = asyncio.get_running_loop().create_task(self._guarded_turn(cmd))

    async def _guarded_turn(self, cmd: StartTurn) -> None:
        """A turn's task: anything it did not expect (a bug, a closed stdout in a
        subscriber) ends the conversation instead of leaving it waiting forever."""
        try:
            await self._turn(cmd)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to run(), which raises it
            self._fail(exc)

    def _cancel_turn(self, cmd: CancelTurn) -> None:
        task = self._turn_task
        if task is None or task.done() or self._turn_number != cmd.turn:
            return
        self._cancel_requested[cmd.turn] = cmd.heard_text
        for sink in self.sinks:
            sink.cancel()  # fade out now, before the task even notices
        task.cancel()

    def _discard_turn(self, turn: int) -> None:
        """A preemptive turn the user did not end: nothing of it was played, so
        there is nothing to fade; hang up (its task undoes the history)."""
        task = self._turn_task
        if task is None or task.done() or self._turn_number != turn:
            return
        self._discard_requested.add(turn)
        task.cancel()

    async def _stop_turn(self) -> None:
        """Shutdown: stop the turn in progress (fading its audio out)."""
        task = self._turn_task
        if task is not None and not task.done():
            for sink in self.sinks:
                sink.cancel()
            await cancel_and_wait(task)
        if self._progress_task is not None:
            await cancel_and_wait(self._progress_task)

    # ------------------------------------------------------------------ one turn

    async def _turn(self, cmd: StartTurn) -> None:
        """The task of turn ``cmd.turn``: request, stream, play to the end, report.

        A preemptive turn waits for the core's confirmation before anything of it
        reaches the sinks, the core or the tools; discarded, it undoes the history."""
        sink = self._turn_sink if self._turn_sink is not None else _TurnSink(self, cmd.turn)
        mark = self.session.checkpoint()
        if self.listener is not None:
            self._progress_task = asyncio.get_running_loop().create_task(
                self._progress(cmd.turn, sink))
        result: TurnResult | None = None
        failure: VoicebotError | None = None
        try:
            try:
                result = await self.session.run_turn(list(cmd.parts), sink,
                                                     user_transcript=cmd.user_text,
                                                     before_tools=sink.released.wait)
            except VoicebotError as exc:
                failure = exc
            await sink.released.wait()  # a preemptive turn: until the core confirms it
            # Also after a failure: what arrived is played and written to the end.
            for s in self.sinks:
                s.end_of_stream()
            await asyncio.gather(*(s.drained() for s in self.sinks))
        except asyncio.CancelledError:
            if cmd.turn in self._discard_requested:
                self._discard_requested.discard(cmd.turn)
                self.session.rollback(mark)  # as if it had never been sent
                self.feed(TurnCancelled(cmd.turn))
                return
            if cmd.turn not in self._cancel_requested:
                raise  # shutdown, not the core's decision
            await self._after_cancel(cmd.turn)
            return
        except VoicebotError as exc:  # a sink failed while draining (device gone)
            failure = failure or exc
        finally:
            if self._progress_task is not None:
                self._progress_task.cancel()
                self._progress_task = None
        self._report_progress(cmd.turn, sink)
        if failure is not None and isinstance(failure, self._fatal_types):
            self._fail(failure)
            return
        if failure is not None:
            if self._turn_failed is not None:
                self._turn_failed(failure)
            self.exit_code = failure.exit_code
            partial = failure.partial if isinstance(failure.partial, TurnResult) else None
            self.feed(TurnFailed(cmd.turn, str(failure), self._report(partial)))
        else:
            self.feed(TurnFinished(cmd.turn, self._report(result)))

    async def _after_cancel(self, turn: int) -> None:
        heard = self._cancel_requested.pop(turn, None)
        last = self.session.last_result
        if heard is not None and last is not None and last.recorded:
            # The history keeps only what the listener heard (not recorded: undone).
            self.session.note_heard(heard)
        self.feed(TurnCancelled(turn))

    def _report(self, result: TurnResult | None) -> TurnReport:
        listener = self.listener
        first_sound = listener.first_sound_at if listener is not None else None
        underruns = listener.underruns if listener is not None else None
        if result is None:
            return TurnReport(first_sound=first_sound, underruns=underruns)
        t = result.timings
        return TurnReport(
            text=result.transcript or result.text, audio_bytes=result.audio_bytes,
            audio_id=result.audio_id, finish_reason=result.finish_reason, usage=result.usage,
            requests=result.requests, request_sent=t.request_sent, first_byte=t.first_byte,
            first_audio=t.first_audio, done=t.done, first_sound=first_sound,
            underruns=underruns,
            tool_calls=tuple((c.name, c.arguments, c.result) for c in result.tool_calls))

    def _report_progress(self, turn: int, sink: _TurnSink) -> None:
        """Tell the core how far the listener has heard this turn's reply. Only once
        the turn has pushed audio: until then the listener's position is still the
        previous reply's (a speaker starts a new reply at its first push), and the
        core would take that for this reply's first sound and words heard."""
        listener = self.listener
        if listener is not None and sink.audio_started:
            now = self._clock()
            self.feed(PlaybackProgress(turn, listener.heard_samples(now), now))

    async def _progress(self, turn: int, sink: _TurnSink) -> None:
        """While a turn runs: tell the core how far the listener has heard."""
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                self._report_progress(turn, sink)
                await asyncio.sleep(self._interval)
