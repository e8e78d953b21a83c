"""Talk and mute: the kiosk's buttons, from a terminal key or the status screen.

:class:`Controls` turns commands into what the conversation understands: the talk
button becomes :class:`~voicebot.turntaking.inputs.PushToTalk` inputs of the core,
mute switches listening off and on (the kiosk's ``set_muted``). The screen calls
:meth:`Controls.command` with a name:

- ``"talk"``: the talk button was tapped (on ↔ off); ``"talk.down"`` / ``"talk.up"``
  for a button held down and let go;
- ``"mute"``: mute ↔ unmute; ``"mute.on"`` / ``"mute.off"``;
- ``"stop"``: stop the reply now.

A terminal has no key-up events, so the talk key is a tap: on, and off again by the
next tap or when the turn it let through starts. :class:`TerminalKeys` reads single
keys from stdin in cbreak mode (only when stdin is a terminal) and restores the
terminal when it stops.

Loop thread throughout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ..driver import Driver
from ..errors import ConfigError
from ..turntaking.events import Event, StateChanged
from ..turntaking.inputs import InterruptRequest, PushToTalk

__all__ = ["Controls", "TerminalKeys", "key_char", "COMMANDS"]

log = logging.getLogger(__name__)

COMMANDS = ("talk", "talk.down", "talk.up", "mute", "mute.on", "mute.off", "stop")
_NAMED_KEYS = {"space": " ", "enter": "\n", "return": "\n", "tab": "\t"}


def key_char(name: str) -> str:
    """The character a key name stands for (``space`` → ``" "``); "" for none."""
    if not name:
        return ""
    char = _NAMED_KEYS.get(name.lower(), name)
    if len(char) != 1 or (not char.isprintable() and char not in "\n\t"):
        raise ConfigError(f"a key must be one character or space/enter/tab, not {name!r}")
    return char


class Controls:
    """The buttons of one kiosk conversation.

    ``set_muted(bool)`` mutes or unmutes listening; ``clock`` must be the driver's
    clock (the talk button's times are compared with capture times). With a wake
    word, ``wake()`` is what a press does instead (the kiosk feeds a wake word at the
    current capture position: the talk button as an alternative to saying it).
    """

    def __init__(self, driver: Driver, set_muted: Callable[[bool], None], *,
                 muted: bool = False, clock: Callable[[], float] = time.monotonic,
                 wake: Callable[[], None] | None = None) -> None:
        self._driver = driver
        self._wake = wake
        self._set_muted = set_muted
        self._clock = clock
        self.muted = muted
        self.talking = False
        self._tapped = False  # the talk button is on from a tap: off when the turn starts

    def command(self, name: str) -> None:
        """Carry out one command (see :data:`COMMANDS`); unknown names raise ValueError."""
        if name == "talk":
            self._talk(not self.talking, tapped=True)
        elif name in ("talk.down", "talk.up"):
            self._talk(name == "talk.down", tapped=False)
        elif name in ("mute", "mute.on", "mute.off"):
            muted = not self.muted if name == "mute" else name == "mute.on"
            if muted != self.muted:
                self.muted = muted
                self._set_muted(muted)
        elif name == "stop":
            self._driver.feed(InterruptRequest())
        else:
            raise ValueError(f"unknown command {name!r}")

    def _talk(self, pressed: bool, *, tapped: bool) -> None:
        if self._wake is not None:
            if pressed:
                self._wake()
            return
        if pressed == self.talking:
            return
        self.talking = pressed
        self._tapped = pressed and tapped
        self._driver.feed(PushToTalk(pressed, self._clock()))

    def on_event(self, event: Event) -> None:
        """A driver subscriber: a tapped talk button goes off when its turn starts."""
        if isinstance(event, StateChanged) and event.state == "thinking" and self._tapped:
            # Not from inside the driver's own carrying out: on the next loop turn.
            asyncio.get_running_loop().call_soon(self._release_tap)

    def _release_tap(self) -> None:
        if self._tapped and self.talking:
            self._talk(False, tapped=False)


class TerminalKeys:
    """Single key presses on stdin (cbreak mode), mapped to commands. Loop thread.

    ``keys`` maps a character to a command name. Does nothing when stdin is not a
    terminal (a service, a pipe). Use as a context manager: the terminal's mode is
    restored on exit.
    """

    def __init__(self, keys: dict[str, str], command: Callable[[str], None],
                 stream: Any = None) -> None:
        self._keys = {k: v for k, v in keys.items() if k}
        self._command = command
        self._stream = stream if stream is not None else sys.stdin
        self._fd: int | None = None
        self._saved: Any = None

    def __enter__(self) -> TerminalKeys:
        if not self._keys:
            return self
        try:
            if not self._stream.isatty():
                return self
            fd = self._stream.fileno()
        except (AttributeError, ValueError, OSError):
            return self
        import termios
        import tty

        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C still signals
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._read)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        import termios

        asyncio.get_running_loop().remove_reader(self._fd)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._fd = None

    @property
    def active(self) -> bool:
        return self._fd is not None

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 64).decode(errors="ignore")
        except OSError:
            return
        for char in data.replace("\r", "\n"):
            name = self._keys.get(char)
            if name is not None:
                self._command(name)
