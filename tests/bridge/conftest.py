"""Bridges on 127.0.0.1 for the tests: in-process (same event loop as the clients),
with a scripted upstream (tests/e2e/replyserver.py) or the embedded server."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from e2e.replyserver import ReplyServer
from speech import synth

from voicebot.bridge.hub import BridgeOptions, Hub
from voicebot.bridge.serve import BridgeServer, listen
from voicebot.config import Settings
from voicebot.pipeline import make_session
from voicebot.session.client import new_http_pool

from wsclient import pcm16

REPLY_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs far away "
              "into the quiet green forest.")


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplyServer]:
    """A fast scripted chat-completions server: every turn gets the same spoken reply."""
    reply = pcm16(synth(REPLY_TEXT, 24_000))
    with ReplyServer(reply, REPLY_TEXT, piece_bytes=4801, piece_delay_s=0.005) as server:
        yield server


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
