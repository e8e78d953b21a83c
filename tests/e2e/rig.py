"""Breaking the PipeWire rig on purpose, and mending it (scripts/audio-up).

- :func:`unload_sink` / :func:`load_sink`: a null sink vanishes and comes back under
  the same name, as a USB device unplugged and plugged in again.
- :func:`stop_sound_server`: the rig's pipewire, wireplumber and pipewire-pulse
  stop (only this ``XDG_RUNTIME_DIR``'s); :func:`restore_rig` (scripts/audio-up)
  starts them and the sinks again. Call it in a ``finally``: later tests need the rig.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from vdev import start_rig


def _pactl(*args: str) -> str:
    return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True,
                          timeout=10).stdout


def sink_module(name: str) -> str | None:
    for line in _pactl("list", "short", "modules").splitlines():
        fields = line.split("\t")
        if len(fields) > 2 and fields[1] == "module-null-sink" and f"sink_name={name}" in fields[2]:
            return fields[0]
    return None


def sink_exists(name: str) -> bool:
    return any(line.split("\t")[1:2] == [name]
               for line in _pactl("list", "short", "sinks").splitlines())


def unload_sink(name: str) -> None:
    module = sink_module(name)
    assert module is not None, f"no null sink {name}"
    _pactl("unload-module", module)
    deadline = time.monotonic() + 5
    while sink_exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)


def load_sink(name: str) -> None:
    """The null sink ``name`` again, as scripts/audio-up makes it."""
    _pactl("load-module", "module-null-sink", f"sink_name={name}",
           f"sink_properties=device.description={name}", "rate=48000", "channels=2")
    deadline = time.monotonic() + 5
    while not sink_exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)


def rig_daemons() -> list[int]:
    """The pids of this rig's sound server (its XDG_RUNTIME_DIR's only)."""
    runtime = os.environ["XDG_RUNTIME_DIR"]
    pids = []
    for name in ("pipewire-pulse", "wireplumber", "pipewire"):
        found = subprocess.run(["pgrep", "-u", str(os.getuid()), "-x", name],
                               capture_output=True, text=True).stdout.split()
        for pid in map(int, found):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"XDG_RUNTIME_DIR={runtime}".encode() in env:
                pids.append(pid)
    return pids


def stop_sound_server() -> None:
    pids = rig_daemons()
    assert pids, "the rig's sound server is not running"
    for pid in pids:
        os.kill(pid, 15)
    deadline = time.monotonic() + 5
    while rig_daemons() and time.monotonic() < deadline:
        time.sleep(0.05)


def restore_rig() -> None:
    """scripts/audio-up: the sound server and both sinks, defaults set (idempotent)."""
    start_rig()
