"""A thin edge over the sound server (``pactl``): where our streams really run.

PortAudio reaches PipeWire or PulseAudio through ALSA's ``pipewire``/``pulse``
plugin and sees one device called "default" (or "pipewire"): which source or sink
the server connected the stream to is invisible from there. When that source
vanishes, WirePlumber (or PulseAudio's module-rescue-streams) moves the stream to
the fallback without an error: capture goes on, from another device. Only the
server can tell, so this asks it, through ``pactl`` (pulseaudio-utils; PipeWire
answers through pipewire-pulse): ``pactl subscribe`` to learn that something
changed (a sleeping pipe, no polling), ``pactl -f json list`` to see where our
process's streams are, ``pactl move-source-output``/``move-sink-input`` to put
them back. Without ``pactl`` or a server (ALSA on hardware), :meth:`SoundServer.find`
returns None and the moved-stream case does not arise: a vanished ALSA device
fails the stream.

Sync methods: any thread but the loop's (each runs ``pactl``, 5–20 ms).
:meth:`SoundServer.changes`: the loop thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["SoundServer"]

# kind → (pactl list of streams, their device field, pactl list of devices, move command)
_KINDS = {
    "input": ("source-outputs", "source", "sources", "move-source-output"),
    "output": ("sink-inputs", "sink", "sinks", "move-sink-input"),
}
_TIMEOUT_S = 5.0


class SoundServer:
    """``pactl`` for this process's streams (``pid``: whose streams are ours)."""

    def __init__(self, pactl: str, pid: int | None = None) -> None:
        self._pactl = pactl
        self._pid = str(os.getpid() if pid is None else pid)

    @classmethod
    def find(cls) -> SoundServer | None:
        """The server if ``pactl`` is installed and a server answers, else None."""
        pactl = shutil.which("pactl")
        if pactl is None:
            return None
        try:
            ok = subprocess.run([pactl, "info"], capture_output=True,
                                timeout=_TIMEOUT_S).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return None
        return cls(pactl) if ok else None

    def stream_device(self, kind: str) -> str | None:
        """The name of the source (``input``) or sink (``output``) our stream of that
        kind runs on; None if we have none, or the server does not answer."""
        streams_list, field, devices_list, _ = _KINDS[kind]
        devices = self._json("list", devices_list)
        if devices is None:
            return None
        names = {d.get("index"): d.get("name") for d in devices if isinstance(d, dict)}
        for stream in self._ours(streams_list):
            name = names.get(stream.get(field))
            return str(name) if name is not None else None
        return None

    def _ours(self, streams_list: str) -> list[dict[str, Any]]:
        """Our process's streams: the process id is a property of the stream's client
        (PipeWire's ALSA plugin sets it there, not on the stream)."""
        clients = self._json("list", "clients")
        streams = self._json("list", streams_list)
        if clients is None or streams is None:
            return []
        ours = {str(c.get("index")) for c in clients if isinstance(c, dict)
                and str((c.get("properties") or {}).get("application.process.id")) == self._pid}
        return [s for s in streams if isinstance(s, dict)
                and (str(s.get("client")) in ours
                     or str((s.get("properties") or {}).get("application.process.id")) == self._pid)]

    def device_exists(self, kind: str, name: str) -> bool:
        devices = self._json("list", _KINDS[kind][2])
        return bool(devices) and any(isinstance(d, dict) and d.get("name") == name
                                     for d in devices or ())

    def move_stream(self, kind: str, name: str) -> None:
        """Move our streams of ``kind`` to the device ``name`` (best effort)."""
        streams_list, _, _, move = _KINDS[kind]
        for stream in self._ours(streams_list):
            self._run(move, str(stream.get("index")), name)

    async def changes(self) -> AsyncGenerator[None, None]:
        """Yield once per burst of server events about devices or streams (loop thread).

        ``pactl subscribe`` prints one line per event; a device vanishing makes a
        burst (the device, its monitor, each stream moved): they are read together
        and yield once. Ends when the server goes away (its process exits).
        """
        proc = await asyncio.create_subprocess_exec(
            self._pactl, "subscribe", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                if not _relevant(line):
                    continue
                # The rest of the burst: whatever follows within 100 ms.
                while True:
                    try:
                        more = await asyncio.wait_for(proc.stdout.readline(), 0.1)
                    except asyncio.TimeoutError:
                        break
                    if not more:
                        break
                yield None
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()

    def _json(self, *args: str) -> list[Any] | None:
        out = self._run("-f", "json", *args)
        if out is None:
            return None
        try:
            value = json.loads(out)
        except ValueError:
            return None
        return value if isinstance(value, list) else None

    def _run(self, *args: str) -> str | None:
        try:
            done = subprocess.run([self._pactl, *args], capture_output=True, text=True,
                                  timeout=_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None


def _relevant(line: bytes) -> bool:
    """An event about a source, a sink or a stream (not a client, module or card)."""
    text = line.decode(errors="replace")
    return any(f" on {what} " in text for what in
               ("source", "sink", "source-output", "sink-input", "server"))
