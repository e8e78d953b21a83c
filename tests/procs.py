"""Running ``voicebot`` as a child process in tests, so that a hang says where it hung."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable


def child_env() -> dict[str, str]:
    """The test's environment, with faulthandler on: SIGABRT dumps every thread's stack."""
    return {**os.environ, "PYTHONFAULTHANDLER": "1"}


def _hung(proc: subprocess.Popen[str], timeout_s: float, read_stdout: bool) -> AssertionError:
    proc.send_signal(signal.SIGABRT)
    try:
        out, err = proc.communicate(timeout=10) if read_stdout else ("", _stderr(proc))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return AssertionError(f"voicebot did not finish within {timeout_s} s\n"
                          f"--- stdout (tail):\n{(out or '')[-3000:]}\n"
                          f"--- stderr (tail):\n{(err or '')[-6000:]}")


def _stderr(proc: subprocess.Popen[str]) -> str:
    proc.wait(timeout=10)
    return proc.stderr.read() if proc.stderr else ""


def communicate(proc: subprocess.Popen[str], timeout_s: float) -> tuple[str, str]:
    """``proc.communicate`` with a timeout that fails with the child's output and the
    stacks of all its threads (start the child with :func:`child_env`)."""
    try:
        return proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise _hung(proc, timeout_s, read_stdout=True) from None


def wait(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """Wait for a child whose stdout another thread reads; return its stderr. A hang
    fails like :func:`communicate`."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise _hung(proc, timeout_s, read_stdout=False) from None
    return proc.stderr.read() if proc.stderr else ""


def json_events(proc: subprocess.Popen[str], *, stamp: bool = False
                ) -> queue.Queue[dict | None]:
    """The JSON lines of ``proc``'s stdout (``--json``), read on a thread as they come;
    None after the last one. ``stamp``: each event also gets ``"_read_at"``, the
    ``time.monotonic()`` at which its line was read."""
    events: queue.Queue[dict | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if stamp:
                event["_read_at"] = time.monotonic()
            events.put(event)
        events.put(None)

    threading.Thread(target=read, daemon=True).start()
    return events


def until(events: queue.Queue[dict | None], seen: list[dict], done: Callable[[dict], bool],
          timeout_s: float) -> dict:
    """Take events (from :func:`json_events`) into ``seen`` until ``done(event)``;
    return that event. Fails, listing what came, on timeout or when the child ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event is None:
            break
        seen.append(event)
        if done(event):
            return event
    shown = [e["type"] if "message" not in e else f"{e['type']}: {e['message']}" for e in seen]
    raise AssertionError(f"timed out; events so far: {shown}")
