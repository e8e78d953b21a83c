"""Running ``voicebot`` as a child process in tests, so that a hang says where it hung."""

from __future__ import annotations

import os
import signal
import subprocess


def child_env() -> dict[str, str]:
    """The test's environment, with faulthandler on: SIGABRT dumps every thread's stack."""
    return {**os.environ, "PYTHONFAULTHANDLER": "1"}


def communicate(proc: subprocess.Popen[str], timeout_s: float) -> tuple[str, str]:
    """``proc.communicate`` with a timeout that fails with the child's output and the
    stacks of all its threads (start the child with :func:`child_env`)."""
    try:
        return proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"voicebot did not finish within {timeout_s} s\n"
                             f"--- stdout (tail):\n{out[-3000:]}\n--- stderr (tail):\n{err[-6000:]}")
