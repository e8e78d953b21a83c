"""Running ``voicebot kiosk --json`` as a child process on the virtual devices, and
finding its earcons on the recording of the virtual speaker (test helpers)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from procs import child_env, json_events, wait
from signals import best_lag
from speech import compose
from vdev import RECORD_RATE, play_into_mic, write_wav
from voicebot.kiosk.earcons import synthesize

VOICEBOT = [sys.executable, "-m", "voicebot"]


class Kiosk:
    """``voicebot kiosk --json ARGS``: its events as they come; SIGINT on exit."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(VOICEBOT + ["kiosk", "--json", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env={**child_env(), **(env or {})})
        self._events = json_events(self.proc)
        self.seen: list[dict[str, Any]] = []
        self.stderr = ""

    def wait_for(self, timeout_s: float, kind: str, **fields: Any) -> dict[str, Any]:
        """The next event of type ``kind`` whose fields have these values."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event is None:
                break
            self.seen.append(event)
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event
        raise AssertionError(f"no {kind} {fields} within {timeout_s} s; seen: "
                             f"{[e['type'] for e in self.seen]}; last: {self.seen[-5:]}; "
                             f"stderr: {self._stderr_now()}")

    def _stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def drain(self, seconds: float) -> None:
        """Collect what comes for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                return
            if event is None:
                return
            self.seen.append(event)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.stderr = wait(self.proc, 30)
        return self.proc.returncode

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def say_into_mic(tmp_path: Path, name: str, parts: list[str | float], **kw: Any) -> None:
    """Speak ``parts`` (tests/speech.compose) into the virtual microphone, in real time."""
    x, _ = compose(parts, 16_000, **kw)
    path = str(tmp_path / f"{name}.wav")
    write_wav(path, x, 16_000)
    play_into_mic(path)


def find_earcon(recording: np.ndarray, name: str, *, start: int = 0,
                rate: int = RECORD_RATE) -> tuple[int, float]:
    """(sample where earcon ``name`` begins at or after ``start``, similarity)."""
    ref = synthesize(name, rate)
    lag, score = best_lag(recording[start:], ref)
    return start + lag, score


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
