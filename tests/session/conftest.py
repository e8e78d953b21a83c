from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sse_server import ScriptedServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """A fresh scripted HTTP server on 127.0.0.1, port 0."""
    async with ScriptedServer() as srv:
        yield srv
