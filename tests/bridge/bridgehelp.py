"""Helpers for the bridge's tests: a bridge on 127.0.0.1 in the test's event loop, and
the scripted upstream's reply text. Imported by name (``from bridgehelp import ...``):
pytest's conftest modules all share the name ``conftest``."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from voicebot.bridge.hub import BridgeOptions, Hub
from voicebot.bridge.serve import BridgeServer, listen
from voicebot.config import Settings
from voicebot.pipeline import make_session
from voicebot.session.client import new_http_pool

REPLY_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs far away "
              "into the quiet green forest.")


@contextlib.asynccontextmanager
async def running_bridge(base_url: str, options: BridgeOptions | None = None,
                         **settings: Any) -> AsyncIterator[BridgeServer]:
    """A bridge on 127.0.0.1 at a free port, in this event loop; drained on exit."""
    pool = new_http_pool()
    hub = Hub(dataclasses.replace(Settings(model="test"), **settings), base_url, pool,
              options or BridgeOptions(), make_session=make_session)
    sock = listen("127.0.0.1", 0)
    try:
        async with BridgeServer(hub, sock) as server:
            yield server
    finally:
        sock.close()
        await pool.aclose()
