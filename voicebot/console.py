"""What the user (or a driving program) sees: human lines or one JSON object per line.

Runs on the event loop thread. Human mode writes the conversation to stdout and notices
to stderr; ``--json`` mode writes every event as a JSON line to stdout. Nothing written
here can contain the API key: text passes through :func:`voicebot.errors.redact`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .errors import redact


class Console:
    def __init__(self, *, json_mode: bool = False, out: TextIO | None = None,
                 err: TextIO | None = None, verbose: bool = False) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._line_open = False

    # -- JSON ------------------------------------------------------------------------
    def event(self, type_: str, **fields: Any) -> None:
        """Emit one event; in human mode only errors and notices are shown (elsewhere)."""
        if self.json_mode:
            line = json.dumps({"type": type_, **fields}, ensure_ascii=False, default=str)
            self._out.write(redact(line) + "\n")
            self._out.flush()

    # -- conversation ----------------------------------------------------------------
    def user(self, text: str | None, audio_s: float | None = None, turn: int | None = None) -> None:
        self.event("user", text=text, audio_s=audio_s, turn=turn)
        if not self.json_mode:
            shown = text if text else f"[speech, {audio_s:.1f} s]" if audio_s is not None else ""
            self._close_line()
            self._out.write(f"you: {redact(shown)}\n")
            self._out.flush()

    def assistant_delta(self, text: str) -> None:
        """Print the next piece of the assistant's words (already paced by the caller)."""
        if not text:
            return
        self.event("transcript.delta", text=text)
        if not self.json_mode:
            if not self._line_open:
                self._out.write("assistant: ")
                self._line_open = True
            self._out.write(redact(text))
            self._out.flush()

    def assistant_end(self) -> None:
        self._close_line()

    def tool_call(self, name: str, arguments: str, result: str) -> None:
        self.event("tool_call", name=name, arguments=arguments, result=result)
        if not self.json_mode and self.verbose:
            self.notice(f"tool {name}({arguments}) -> {result}")

    def notice(self, message: str) -> None:
        """A one-line status message for people (stderr); JSON mode emits an event."""
        if self.json_mode:
            self.event("notice", message=message)
            return
        self._close_line()
        self._err.write(redact(message) + "\n")
        self._err.flush()

    def error(self, message: str) -> None:
        """The one line a failure shows. In JSON mode it is an event on stdout too."""
        self._close_line()
        self.event("error", message=message)
        self._err.write(f"voicebot: error: {redact(message)}\n")
        self._err.flush()

    def _close_line(self) -> None:
        if self._line_open:
            self._out.write("\n")
            self._out.flush()
            self._line_open = False
