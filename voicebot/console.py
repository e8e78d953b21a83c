"""What the user (or a driving program) sees: human lines or one JSON object per line.

Runs on the event loop thread. :meth:`Console.publish` is an event subscriber of the
conversation driver: ``--json`` writes every event record as one JSON line to stdout
(:meth:`voicebot.turntaking.events.Event.to_dict`, nothing else); human mode writes
the conversation to stdout and notices and errors to stderr. Nothing written here
can contain a secret: every line passes through the console's
:class:`~voicebot.errors.Redactor`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .errors import Redactor
from .turntaking.events import (
    Backend,
    DeviceStatus,
    ErrorEvent,
    Event,
    Interrupted,
    Notice,
    Summary,
    TimerFired,
    ToolCallDone,
    TranscriptDelta,
    TurnDone,
    UserSaid,
)


class Console:
    def __init__(self, *, json_mode: bool = False, out: TextIO | None = None,
                 err: TextIO | None = None, verbose: bool = False,
                 redactor: Redactor | None = None) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self.redact = redactor if redactor is not None else Redactor()
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._line_open = False

    # -- the subscriber -----------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Show one event record: a JSON line, or its human rendering (if it has one)."""
        if self.json_mode:
            self._json(event.to_dict())
            if isinstance(event, ErrorEvent):
                self._error_line(event.message)
            return
        if isinstance(event, TranscriptDelta):
            self._assistant(event.text)
        elif isinstance(event, UserSaid):
            shown = (event.text if event.text else event.transcript if event.transcript else
                     f"[speech, {event.audio_s:.1f} s]" if event.audio_s is not None else "")
            self._line(self._out, f"you: {shown}")
        elif isinstance(event, (TurnDone, Interrupted)):
            self._close_line()
            if isinstance(event, Interrupted) and self.verbose:
                self.notice("interrupted: listening")
        elif isinstance(event, ErrorEvent):
            self._error_line(event.message)
        elif isinstance(event, DeviceStatus):
            self.notice(event.message)
        elif isinstance(event, (Notice, TimerFired)):
            self.notice(event.message if isinstance(event, Notice) else event.text)
        elif isinstance(event, ToolCallDone) and self.verbose:
            self.notice(f"tool {event.name}({event.arguments}) -> {event.result}")
        elif isinstance(event, Backend) and self.verbose and event.kind == "embedded":
            self.notice(f"using the embedded local server at {event.base_url}")
        elif isinstance(event, Summary) and self.verbose and event.turns:
            for stage, s in event.latency_ms.items():
                if s["n"]:
                    self.notice(f"latency {stage}: p50 {s['p50']} ms, p95 {s['p95']} ms "
                                f"({s['n']} turns)")

    # -- records that are not a conversation's (device lists) ------------------------
    def event(self, type_: str, **fields: Any) -> None:
        """Emit an ad-hoc record in JSON mode (nothing in human mode)."""
        if self.json_mode:
            self._json({"type": type_, **fields})

    # -- lines ---------------------------------------------------------------------------
    def notice(self, message: str) -> None:
        """A one-line status message for people (stderr); JSON mode emits an event."""
        if self.json_mode:
            self.publish(Notice(message=message))
            return
        self._line(self._err, message)

    def error(self, message: str) -> None:
        """The one line a failure shows (stderr; in JSON mode an event on stdout too)."""
        self.publish(ErrorEvent(message=message))

    def _error_line(self, message: str) -> None:
        self._line(self._err, f"voicebot: error: {message}")

    def _json(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        self._out.write(self.redact(line) + "\n")
        self._out.flush()

    def _assistant(self, text: str) -> None:
        if not text:
            return
        if not self._line_open:
            self._out.write("assistant: ")
            self._line_open = True
        self._out.write(self.redact(text))
        self._out.flush()

    def _line(self, stream: TextIO, text: str) -> None:
        self._close_line()
        stream.write(self.redact(text) + "\n")
        stream.flush()

    def _close_line(self) -> None:
        if self._line_open:
            self._out.write("\n")
            self._out.flush()
            self._line_open = False
