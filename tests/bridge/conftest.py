"""Bridges on 127.0.0.1 for the tests: in-process (same event loop as the clients),
with a scripted upstream (tests/e2e/replyserver.py) or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e.replyserver import ReplyServer
from speech import synth

from bridgehelp import REPLY_TEXT
from wsclient import pcm16


@pytest.fixture(scope="module")
def upstream() -> Iterator[ReplyServer]:
    """A fast scripted chat-completions server: every turn gets the same spoken reply."""
    reply = pcm16(synth(REPLY_TEXT, 24_000))
    with ReplyServer(reply, REPLY_TEXT, piece_bytes=4801, piece_delay_s=0.005) as server:
        yield server
