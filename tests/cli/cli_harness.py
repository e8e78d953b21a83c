"""Run the real ``voicebot`` command as a user would, against real local servers.

- :func:`run_voicebot` starts ``python -m voicebot ...`` in a subprocess with a clean
  environment: no ``VOICEBOT_*``/``OPENAI_*`` variables unless the test passes them,
  ``HOME`` (and ``XDG_CONFIG_HOME``) in a temporary directory so no user config is read.
- :class:`ThreadedScriptedServer` runs the session tests' hand-written
  :class:`sse_server.ScriptedServer` on its own event loop in a background thread, so
  a synchronous test can script replies, run the command and then read the requests.
- :func:`assert_one_line_error` checks the failure contract: exit code, exactly one
  line on stderr, no traceback.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sse_server import Reply, Request, ScriptedServer

VOICEBOT = [sys.executable, "-m", "voicebot"]
REPO = Path(__file__).resolve().parents[2]
API_RATE = 24_000


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without voicebot/OpenAI settings, HOME in ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOICEBOT_", "OPENAI_")) and k != "XDG_CONFIG_HOME"}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)  # the working tree, whatever the cwd
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_voicebot(args: Sequence[str], home: Path, *, env: Mapping[str, str] | None = None,
                 timeout_s: float = 60.0, cwd: Path | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """Run ``voicebot ARGS`` to the end and return its exit code, stdout and stderr."""
    return subprocess.run(VOICEBOT + list(args), env=clean_env(home, env), cwd=cwd or home,
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *,
                          contains: Sequence[str] = (), code: int | None = None) -> str:
    """The command failed with exactly one line on stderr naming the cause; returns it."""
    assert proc.returncode != 0, f"expected a failure; stdout={proc.stdout!r}"
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"want one line on stderr, got {lines!r}"
    for text in contains:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def json_lines(stdout: str, *, conversation: bool = False) -> list[dict[str, Any]]:
    """Every stdout line parsed as one JSON object (fails on any other line).

    ``conversation``: leave out the state changes and the closing summary, which
    come between and after the events a test is about.
    """
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict) and "type" in event, line
        if conversation and event["type"] in ("state", "summary"):
            continue
        events.append(event)
    return events


def read_wav_pcm16(path: Path) -> tuple[bytes, int, int, int]:
    """(frames, sample_rate, channels, sample_width) of a WAV file, read with ``wave``."""
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels(), w.getsampwidth()


def wav_bytes(pcm16: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)
    return buf.getvalue()


class TimedReader:
    """Collects a pipe's bytes with the monotonic time each read returned."""

    def __init__(self, fd: int) -> None:
        self.reads: list[tuple[float, bytes]] = []
        self._thread = threading.Thread(target=self._run, args=(fd,), daemon=True)
        self._thread.start()

    def _run(self, fd: int) -> None:
        while chunk := os.read(fd, 4096):
            self.reads.append((time.monotonic(), chunk))

    def join(self) -> None:
        self._thread.join(timeout=10)

    def when_seen(self, text: str) -> float:
        """When ``text`` had fully arrived."""
        so_far = b""
        for t, chunk in self.reads:
            so_far += chunk
            if text.encode() in so_far:
                return t
        raise AssertionError(f"{text!r} never printed; got {so_far!r}")


def run_timed(args: Sequence[str], home: Path) -> tuple[TimedReader, float]:
    """Run ``voicebot *args`` to its end (clean environment, ``home`` as HOME) while
    recording when each piece of its stdout arrived. Returns the reader and the
    monotonic time the command ended; fails with its stderr unless it exits 0."""
    proc = subprocess.Popen(VOICEBOT + list(args), env=clean_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    reader = TimedReader(proc.stdout.fileno())
    err = proc.stderr.read().decode()
    proc.wait(timeout=30)
    ended = time.monotonic()
    reader.join()
    assert proc.returncode == 0, err
    return reader, ended


class ThreadedScriptedServer:
    """A :class:`ScriptedServer` on 127.0.0.1:0 served from a background thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = ScriptedServer()

    def __enter__(self) -> ThreadedScriptedServer:
        self._thread.start()
        self._call(self._server.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._server.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def reply(self, *replies: Reply) -> None:
        self._loop.call_soon_threadsafe(self._server.reply, *replies)

    @property
    def requests(self) -> list[Request]:
        return list(self._server.requests)

    @property
    def connections(self) -> int:
        return self._server.connections
