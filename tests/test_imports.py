"""Pure cores import no I/O library, directly or through a package ``__init__``.

Each module is imported in a fresh interpreter (one subprocess per module: in this
process pytest and the other tests have long loaded everything), which then prints the
I/O libraries found in ``sys.modules``. A control module that does use asyncio shows the
check can see a library that is there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import voicebot.protocol

REPO = Path(__file__).resolve().parents[1]

#: What a pure core must not load (docs/architecture: "Cores import no I/O library").
IO_LIBRARIES = ("asyncio", "httpx", "sounddevice", "soxr", "webrtcvad", "starlette", "uvicorn",
                "websockets")

PROTOCOL = sorted(f"voicebot.protocol.{m.name}"
                  for m in pkgutil.iter_modules(voicebot.protocol.__path__))

#: The cores the architecture names, their packages, and the other pure modules that
#: ``voicebot --help`` (settings) and the cores build on.
CORES = [
    "voicebot.capture",
    "voicebot.capture.segmenter",
    "voicebot.capture.events",
    "voicebot.capture.ring",
    "voicebot.capture.reference",
    "voicebot.capture.aec_align",
    "voicebot.capture.aec_guard",
    "voicebot.playback",
    "voicebot.playback.jitter",
    "voicebot.playback.jitterring",
    "voicebot.playback.transcript",
    "voicebot.protocol",
    *PROTOCOL,
    "voicebot.session",
    "voicebot.session.conversation",
    "voicebot.session.retry",
    "voicebot.skills",
    "voicebot.skills.calc",
    "voicebot.skills.timers",
    "voicebot.audio",
    "voicebot.audio.wav",
    "voicebot.audio.backoff",
    "voicebot.selftest",
    "voicebot.selftest.analysis",
    "voicebot.recovery",
    "voicebot.config",
    "voicebot.errors",
    "voicebot.kiosk",
    "voicebot.kiosk.earcons",
    "voicebot.kiosk.backoff",
    "voicebot.playback.mixer",
    "voicebot.kiosk.gate",
    "voicebot.kiosk.secondlook",
    "voicebot.kiosk.wakeend",
    "voicebot.kiosk.looker",
    "voicebot.kiosk.wakeword",
    "voicebot.kiosk.screenstate",
]

TURNTAKING = "voicebot.turntaking"


def io_libraries_loaded_by(module: str) -> list[str]:
    """The :data:`IO_LIBRARIES` in ``sys.modules`` after ``import module`` in a new process."""
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"names = {IO_LIBRARIES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in names"
        " and '.' not in m)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the working tree, whatever is installed
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout)
    return loaded


def test_the_protocol_package_has_modules() -> None:
    # pkgutil found the protocol modules, so the parametrisation below covers them.
    assert {"voicebot.protocol.sse", "voicebot.protocol.stream"} <= set(PROTOCOL)


@pytest.mark.parametrize("module", CORES)
def test_core_imports_no_io_library(module: str) -> None:
    assert io_libraries_loaded_by(module) == []


def test_turntaking_core_imports_no_io_library() -> None:
    if importlib.util.find_spec(TURNTAKING) is None:
        pytest.skip(f"{TURNTAKING} does not exist yet (being written); this test covers it "
                    "as soon as it does")
    assert io_libraries_loaded_by(TURNTAKING) == []


def test_command_line_loads_no_device_or_network_library() -> None:
    # `voicebot --help` imports only voicebot.cli; the pipeline and its edges come later.
    # cli itself uses asyncio to run the commands, so asyncio is allowed here.
    assert [m for m in io_libraries_loaded_by("voicebot.cli") if m != "asyncio"] == []


def test_the_check_sees_a_library_that_is_loaded() -> None:
    # voicebot.aio is an asyncio edge: the check must report asyncio for it.
    assert "asyncio" in io_libraries_loaded_by("voicebot.aio")
