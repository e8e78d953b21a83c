"""Running ``voicebot kiosk --json`` as a child process on the virtual devices, and
finding its earcons on the recording of the virtual speaker (test helpers)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from procs import child_env, json_events, wait
from signals import best_lag
from speech import compose
from vdev import RECORD_RATE, play_into_mic, write_wav
from voicebot.kiosk.earcons import NOTES, synthesize

VOICEBOT = [sys.executable, "-m", "voicebot"]


class Kiosk:
    """``voicebot kiosk --json -v ARGS``: its events as they come; SIGINT on exit.

    ``-v`` so that a failed wait says why (the wake word's best score per run of
    speech, listening muted and why, the echo stage's judgements); its stderr goes to
    a file, not a pipe: nobody reads it until the end (a full pipe would block the
    kiosk), and a failed wait shows what it has said so far."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self._stderr_file = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(VOICEBOT + ["kiosk", "--json", "-v", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr_file, text=True,
                                     env={**child_env(), **(env or {})})
        self._events = json_events(self.proc)
        self.seen: list[dict[str, Any]] = []
        self._returned = -1  # index in seen of the event wait_for returned last
        self.stderr = ""

    def wait_for(self, timeout_s: float, event_type: str, /, **fields: Any) -> dict[str, Any]:
        """The first event of type ``event_type`` whose fields have these values, after
        the one the last call returned (it may have come already)."""
        def match(event: dict[str, Any]) -> bool:
            return event["type"] == event_type and all(event.get(k) == v for k, v in fields.items())

        for i in range(self._returned + 1, len(self.seen)):
            if match(self.seen[i]):
                self._returned = i
                return self.seen[i]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event is None:
                break
            self.seen.append(event)
            if match(event):
                self._returned = len(self.seen) - 1
                return event
        raise AssertionError(f"no {event_type} {fields} within {timeout_s} s; seen: "
                             f"{[e['type'] for e in self.seen]}; last: {self.seen[-5:]}; "
                             f"stderr: {self.stderr_so_far()}")

    def stderr_so_far(self, tail_chars: int = 6000) -> str:
        """The last ``tail_chars`` of what the kiosk has written to stderr so far."""
        self._stderr_file.seek(0)
        text = self._stderr_file.read()
        return text if len(text) <= tail_chars else "…" + text[-tail_chars:]

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
        wait(self.proc, 30)
        self.stderr = self.stderr_so_far(tail_chars=1 << 30)
        return self.proc.returncode

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr_file.close()


def say_into_mic(tmp_path: Path, name: str, parts: list[str | float], *, wait: bool = True,
                 **kw: Any) -> None:
    """Speak ``parts`` (tests/speech.compose) into the virtual microphone, in real time
    (``wait``: return once it has been said)."""
    x, _ = compose(parts, 16_000, **kw)
    path = str(tmp_path / f"{name}.wav")
    write_wav(path, x, 16_000)
    play_into_mic(path, wait=wait)


def _bands(x: np.ndarray, name: str, rate: int) -> np.ndarray:
    """``x`` with only what lies within 40 Hz of earcon ``name``'s notes (and their
    second harmonics): a reply mixed over the earcon hardly reaches those bands."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    keep = np.zeros(len(freqs), bool)
    for note in NOTES[name]:
        for f in (note.freq_hz, 2 * note.freq_hz):
            keep |= np.abs(freqs - f) <= 40
    return np.fft.irfft(spectrum * keep, len(x)).astype(np.float32)


def find_earcon(recording: np.ndarray, name: str, *, start: int = 0,
                rate: int = RECORD_RATE) -> tuple[int, float]:
    """(sample where earcon ``name`` begins at or after ``start``, similarity of the
    two in the earcon's own frequency bands: over 0.9 even under a reply)."""
    ref = synthesize(name, rate)
    pad = np.zeros(len(ref), np.float32)
    x = _bands(np.concatenate([recording[start:], pad]), name, rate)
    lag, score = best_lag(x, _bands(np.concatenate([ref, pad]), name, rate)[:len(ref)])
    return start + lag, score


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
