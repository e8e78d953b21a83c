"""One connection's conversation: the driver wired to a websocket. Loop thread.

::

    receive loop ─▶ binary frames ─▶ FrameSource ─▶ capture_events (VAD) ─┐
                 └▶ text: typed turn, interrupt, played, bye ─────────────┼▶ Driver ─▶ TurnTaking
    client ◀── Outbox (bounded, one writer) ◀── sink (reply audio) ◀──────┘      │
                                            ◀── event records ◀──────────────────┘

:class:`Link` is the lifecycle every transport shares (``/ws`` here, Twilio in
``twilio.py``): build the conversation, run the receive loop, the driver and the
writer, and end in exactly one way — the client left, the conversation ended
(bye), or the hub's watchdog asked for a close (idle, stalled client, drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from ..aio import cancel_and_wait, within
from ..capture.listen import capture_events
from ..driver import Driver
from ..errors import BridgeError
from ..pipeline import timer_input
from ..playback.sinks import Sink
from ..session.builtin_tools import Timer
from ..turntaking import TurnTaking
from ..turntaking.events import ErrorEvent, Event
from ..turntaking.inputs import InterruptRequest, TypedText
from .hub import Channel, Hub
from .outbox import Outbox
from .sink import WebsocketSink
from .source import FrameSource
from .wire import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    Bye,
    Interrupt,
    Played,
    TypedTurn,
    WireError,
    frame_error,
    parse_client_text,
    parse_hello,
    ready_message,
    record_message,
)

__all__ = ["Link", "WsLink", "serve_ws", "refuse"]

log = logging.getLogger("voicebot.bridge")

#: After the conversation ends, what is still queued gets this long to go out.
_FLUSH_S = 2.0
#: A close handshake the client does not complete is cut after this.
_CLOSE_S = 3.0


class Link:
    """A conversation over one connection; subclasses speak a wire format.

    Subclasses implement :meth:`_make_sink`, :meth:`_handle` (one message from the
    client) and may override :meth:`_on_event` (what the client sees of an event).
    """

    def __init__(self, channel: Channel, hub: Hub, *, sample_rate: int,
                 voice: str | None) -> None:
        self.id = secrets.token_hex(6)
        self.channel = channel
        self.hub = hub
        self.outbox = Outbox(channel.send, max_bytes=hub.options.outbox_bytes, clock=hub.clock)
        self.source = FrameSource(sample_rate, clock=hub.clock, delays=hub.frame_delays)
        self.sink = self._make_sink()
        session, self._timers, self._detector = hub.conversation_parts(voice, self._on_timer)
        self.session = session
        self.driver = Driver(TurnTaking(hub.policy), session, sinks=self._sinks(),
                             subscribers=[self._on_event], fatal=())
        self.last_heard = hub.clock()
        self._close_request: asyncio.Future[tuple[int, str]] = (
            asyncio.get_running_loop().create_future())

    # -- for subclasses ---------------------------------------------------------------

    def _make_sink(self) -> Sink:
        raise NotImplementedError

    def _sinks(self) -> Sequence[Sink]:
        return [self.sink]

    async def _handle(self, message: bytes | str, now: float) -> None:
        raise NotImplementedError

    def _on_event(self, event: Event) -> None:
        """An event record of the conversation (loop thread)."""

    def _on_timer(self, timer: Timer) -> None:
        self.driver.feed(timer_input(timer))

    def error(self, message: str) -> None:
        """Tell the client something it sent was refused; the session goes on."""
        self._on_event(ErrorEvent(message=self.hub.redact(message)))

    # -- the watchdog's side ------------------------------------------------------------

    def check(self, now: float) -> tuple[int, str] | None:
        # "Replying" includes speech in progress: a drain lets the user finish the
        # utterance and hear its answer, rather than cutting it off mid-sentence.
        busy = self.driver.core.turn is not None or self._detector.in_speech
        return self.hub.verdict(now, last_heard=self.last_heard,
                                stalled_s=self.outbox.stalled_for(now), replying=busy)

    def request_close(self, code: int, reason: str) -> None:
        if not self._close_request.done():
            self._close_request.set_result((code, reason))

    # -- the lifecycle ------------------------------------------------------------------

    async def run(self, greeting: str | None = None) -> None:
        """Serve the conversation until it ends one way or another; then close."""
        hub = self.hub
        hub.add(self.id, self)
        if greeting is not None:
            self.outbox.put(greeting)
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self.outbox.run())
        conversation = loop.create_task(
            self.driver.run(capture_events(self.source, self._detector, clock=hub.clock)))
        receiver = loop.create_task(self._receive())
        waiting: set[asyncio.Future[Any]] = {writer, conversation, receiver,
                                             self._close_request}
        verdict: tuple[int, str] | None = None
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if self._close_request in done:
                verdict = self._close_request.result()
            elif conversation in done and receiver not in done:
                failure = conversation.exception()
                if failure is not None:
                    log.warning("session %s: conversation failed: %s", self.id,
                                hub.redact(repr(failure)))
                    verdict = 1011, "internal error"
                else:
                    verdict = CLOSE_NORMAL, "bye"
            # Otherwise the client left (receiver ended) or its socket failed (writer).
        finally:
            for task in (receiver, conversation):
                await cancel_and_wait(task)
            await self._finish(writer, verdict)
            self._timers.cancel_all()
            await self.session.client.aclose()
            self.sink.close()
            hub.remove(self.id)
        if verdict is not None:
            log.info("session %s: closed %d (%s)", self.id, verdict[0], verdict[1])
        else:
            log.info("session %s: the client left", self.id)

    async def _finish(self, writer: asyncio.Task[None], verdict: tuple[int, str] | None
                      ) -> None:
        if verdict is not None and not self.outbox.stalled_for(self.hub.clock()):
            # Let the last records (turn.done, the summary) reach the client first;
            # not for a client that stopped reading: it would only hold us up.
            self.outbox.close()
            with contextlib.suppress(Exception):
                await within(asyncio.shield(writer), _FLUSH_S)
        if not writer.done():
            await cancel_and_wait(writer)
        elif not writer.cancelled():
            writer.exception()  # the client's socket failed: it left; nothing to raise
        if verdict is not None:
            with contextlib.suppress(Exception):
                await within(self.channel.close(*verdict), _CLOSE_S)

    async def _receive(self) -> None:
        while True:
            message = await self.channel.receive()
            if message is None:
                return
            now = self.hub.clock()
            self.last_heard = now
            await self._handle(message, now)


class WsLink(Link):
    """The ``/ws`` protocol (:mod:`.wire`) over a :class:`Link`."""

    def __init__(self, channel: Channel, hub: Hub, *, sample_rate: int,
                 voice: str | None) -> None:
        super().__init__(channel, hub, sample_rate=sample_rate, voice=voice)
        self.sample_rate = sample_rate

    def _make_sink(self) -> WebsocketSink:
        self._ws_sink = WebsocketSink(self.outbox, clock=self.hub.clock,
                                      report_timeout_s=self.hub.options.report_timeout_s)
        return self._ws_sink

    def greeting(self) -> str:
        return ready_message(self.id, self.sample_rate)

    def _on_event(self, event: Event) -> None:
        self.outbox.put(self.hub.redact(record_message(event.to_dict())))

    async def _handle(self, message: bytes | str, now: float) -> None:
        if isinstance(message, bytes):
            problem = frame_error(len(message), self.sample_rate)
            if problem is not None:
                self.error(problem)
                return
            self.source.push(message, now)
            return
        try:
            m = parse_client_text(message)
        except WireError as exc:
            self.error(str(exc))
            return
        if isinstance(m, TypedTurn):
            self.driver.feed(TypedText(m.text))
        elif isinstance(m, Interrupt):
            self.driver.feed(InterruptRequest())
        elif isinstance(m, Played):
            self._ws_sink.on_played(m.samples, now)
        elif isinstance(m, Bye):
            self.source.end()  # the reply in progress finishes, then the driver stops
        else:  # pragma: no cover - parse_client_text returns no hello
            raise BridgeError(f"unexpected message {m!r}")


async def serve_ws(channel: Channel, hub: Hub) -> None:
    """A ``/ws`` connection from its first message to its close.

    The hello comes first (within ``hello_timeout_s``): binary data before it, a
    malformed hello or a wrong token close with 1008 before any session exists; no
    free session slot closes with 1013. Then the conversation runs (:class:`WsLink`).
    """
    try:
        first = await within(channel.receive(), hub.options.hello_timeout_s)
    except asyncio.TimeoutError:
        await refuse(channel, CLOSE_POLICY,
                      f"no hello within {hub.options.hello_timeout_s:g} s")
        return
    if first is None:
        return
    if isinstance(first, bytes):
        await refuse(channel, CLOSE_POLICY, "binary frame before hello")
        return
    try:
        hello = parse_hello(first)
    except WireError as exc:
        await refuse(channel, exc.close_code, str(exc))
        return
    if not hub.token_ok(hello.token):
        await refuse(channel, CLOSE_POLICY, "wrong token" if hello.token else "token required")
        return
    if not hub.reserve():
        if hub.draining:
            await refuse(channel, CLOSE_GOING_AWAY, "going away: the bridge is shutting down")
        else:
            await refuse(channel, CLOSE_TRY_AGAIN,
                          f"too many sessions ({hub.options.max_sessions}); try again later")
        return
    try:
        link = WsLink(channel, hub, sample_rate=hello.sample_rate, voice=hello.voice)
        log.info("session %s: ready (%d Hz)", link.id, hello.sample_rate)
        await link.run(link.greeting())
    finally:
        hub.release()


async def refuse(channel: Channel, code: int, reason: str) -> None:
    log.info("refused a connection: %d (%s)", code, reason)
    with contextlib.suppress(Exception):
        await within(channel.close(code, reason), _CLOSE_S)
