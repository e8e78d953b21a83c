"""Status screens on 127.0.0.1 for the tests: in-process, in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from voicebot.kiosk.screen import ScreenHub, ScreenServer
from voicebot.kiosk.screenstate import ScreenCommand


@asynccontextmanager
async def running_screen(on_command: Callable[[ScreenCommand], None] = lambda c: None,
                         **hub_options: Any) -> AsyncIterator[tuple[ScreenHub, ScreenServer]]:
    """A screen server at a free port; its hub takes records with ``publish``."""
    hub = ScreenHub(on_command, **hub_options)
    async with ScreenServer(hub, port=0) as server:
        yield hub, server
