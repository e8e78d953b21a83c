"""The bridge's pure parts import no I/O library (fresh interpreter, sys.modules)."""

from __future__ import annotations

import subprocess
import sys

import pytest

IO = ("asyncio", "httpx", "sounddevice", "soxr", "webrtcvad", "starlette", "uvicorn",
      "websockets")


@pytest.mark.parametrize("module", ["voicebot.bridge", "voicebot.bridge.wire",
                                    "voicebot.bridge.twilio_wire", "voicebot.bridge.mulaw"])
def test_pure_bridge_modules_load_no_io_library(module: str) -> None:
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {IO!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == []
