"""Running ``voicebot`` as a child process in tests, so that a hang says where it hung."""

from __future__ import annotations

import os
import signal
import subprocess


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
