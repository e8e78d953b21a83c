"""Audio devices: loading PortAudio, listing and checking devices (`voicebot devices`).

I/O edge. Importing this module does not load PortAudio; :func:`sounddevice_module`
does, on first use, so `voicebot --help` and file-only runs never touch it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from typing import Any

from .errors import AudioDeviceError

__all__ = ["sounddevice_module", "device_arg", "list_devices", "can_open", "diagnose"]


def device_arg(value: str | None) -> int | str | None:
    """A device setting as PortAudio takes it: an index, a name, or None (default)."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def sounddevice_module() -> Any:
    """The ``sounddevice`` module (PortAudio loaded), for every device edge. Any thread.

    Raises :class:`AudioDeviceError` with the package to install if the PortAudio
    library is missing. Typed ``Any``: sounddevice ships no type information.
    """
    try:
        import sounddevice
    except OSError as exc:  # libportaudio2 missing
        raise AudioDeviceError(f"PortAudio is not available ({exc}); on Debian/Ubuntu: "
                               "apt-get install libportaudio2") from None
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    """Every device PortAudio sees, with which are the default input/output."""
    sd = sounddevice_module()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list audio devices ({exc})") from None
    out = []
    for i, d in enumerate(devices):
        out.append({
            "index": i, "name": d["name"], "hostapi": sd.query_hostapis(d["hostapi"])["name"],
            "inputs": d["max_input_channels"], "outputs": d["max_output_channels"],
            "sample_rate": d["default_samplerate"],
            "default_input": i == default_in, "default_output": i == default_out,
        })
    return out


def can_open(kind: str, device: int | str | None = None) -> bool:
    """True if the (default) input or output device really opens and starts.

    Listing is not enough: ALSA lists PipeWire's devices even when no sound server
    runs, and only opening them tells.
    """
    try:
        sd = sounddevice_module()
    except AudioDeviceError:
        return False
    cls = sd.InputStream if kind == "input" else sd.OutputStream
    try:
        with cls(device=device, channels=1, dtype="float32"):
            pass
    except Exception:  # noqa: BLE001 - any PortAudio/ALSA failure: "no usable device"
        return False
    return True


def diagnose(env: Mapping[str, str] = os.environ) -> list[str]:
    """Why audio may not work here, and how to fix it: one finding per line.

    Looks at what a user can act on: PortAudio and its host APIs, a running sound
    server (PipeWire or PulseAudio) for this user, the kernel's sound devices and
    the permission to open them, and whether the default devices really open.
    """
    found: list[str] = []
    try:
        sd = sounddevice_module()
    except AudioDeviceError as exc:
        return [str(exc)]
    apis = [a["name"] for a in sd.query_hostapis()]
    found.append("PortAudio host APIs: " + (", ".join(apis) if apis else
                 "none (PortAudio was built without ALSA; install Debian's libportaudio2)"))
    runtime = env.get("XDG_RUNTIME_DIR", "")
    servers = [name for name, path in (("PipeWire", "pipewire-0"), ("PulseAudio", "pulse/native"))
               if runtime and os.path.exists(os.path.join(runtime, path))]
    if servers:
        found.append(f"sound server: {', '.join(servers)} (in {runtime})")
    else:
        found.append("sound server: none found for this user"
                     + (f" in XDG_RUNTIME_DIR={runtime}" if runtime else " (XDG_RUNTIME_DIR is not set)")
                     + "; start PipeWire (systemctl --user start pipewire pipewire-pulse "
                     "wireplumber) or log in to a desktop session; ALSA alone works with a sound card")
    nodes = sorted(glob.glob("/dev/snd/pcm*"))
    if not nodes:
        found.append("sound cards: none (/dev/snd has no PCM devices): plug in a USB sound "
                     "device or enable the board's audio (Raspberry Pi: dtparam=audio=on)")
    elif not all(os.access(n, os.R_OK | os.W_OK) for n in nodes):
        found.append("sound cards: present, but this user may not open them: "
                     "sudo usermod -aG audio $USER, then log out and in again")
    else:
        found.append(f"sound cards: {len(nodes)} PCM device(s) in /dev/snd, accessible")
    for kind in ("input", "output"):
        found.append(f"default {kind}: " + ("opens" if can_open(kind) else
                     "does not open (see above; `voicebot devices` lists what there is; "
                     "--no-play or --input FILE work without devices)"))
    return found
