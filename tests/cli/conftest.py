from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The scripted servers live with the session and end-to-end tests; import, don't copy.
_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("session", "e2e"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from cli_harness import ThreadedScriptedServer


@pytest.fixture
def scripted() -> Iterator[ThreadedScriptedServer]:
    """A fresh hand-written HTTP/1.1 server on 127.0.0.1 (port 0); script its replies."""
    with ThreadedScriptedServer() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME for the command: no user config file is read."""
    path = tmp_path / "home"
    path.mkdir()
    return path
