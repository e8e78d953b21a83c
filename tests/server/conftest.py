"""Fixtures for the local server's tests: a real server on a loopback port (the SSE
helpers the tests import are in serverhelp.py: a conftest is no module to import)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from voicebot.server.serve import EmbeddedServer, start_embedded
from voicebot.server.spec import validator_for_component


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedServer]:
    """One real server (uvicorn on 127.0.0.1, ephemeral port) shared by the HTTP tests."""
    srv = start_embedded()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def chunk_validator() -> Any:
    return validator_for_component("ChatCompletionChunk")


@pytest.fixture(scope="session")
def response_validator() -> Any:
    return validator_for_component("ChatCompletionResponse")
