"""A `voicebot bridge` process for the tests and the benchmark: started, its port read
from the line it prints, its log drained so that a full pipe never blocks it."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Sequence

_LISTENING = re.compile(r"bridge: http://127\.0\.0\.1:(\d+)/")


def start_bridge(cmd: Sequence[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """Start ``cmd`` (a bridge on 127.0.0.1); return the process and its port. The rest
    of its stderr is collected in ``proc.log`` (a list of lines)."""
    proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    log: list[str] = []
    proc.log = log  # type: ignore[attr-defined]
    return proc, int(read_until(proc, _LISTENING, log, "the bridge").group(1))


def read_until(proc: subprocess.Popen[str], pattern: re.Pattern[str], log: list[str],
               name: str) -> re.Match[str]:
    """Read ``proc``'s stderr into ``log`` until a line matches ``pattern``; from then on
    a thread drains the rest into ``log``, so that a full pipe never blocks the child.
    A child that exits first fails the test with the end of what it said."""
    assert proc.stderr is not None
    for line in proc.stderr:
        log.append(line)
        found = pattern.search(line)
        if found:
            stderr = proc.stderr
            threading.Thread(target=lambda: log.extend(stderr), daemon=True).start()
            return found
    raise AssertionError(f"{name} did not start (exit {proc.wait()}): {''.join(log[-20:])}")
