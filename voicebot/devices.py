"""Audio devices: loading PortAudio, listing and checking devices (`voicebot devices`).

I/O edge. Importing this module does not load PortAudio; :func:`sounddevice_module`
does, on first use, so `voicebot --help` and file-only runs never touch it.
"""

from __future__ import annotations

from typing import Any

from .errors import AudioDeviceError

__all__ = ["sounddevice_module", "list_devices", "can_open"]


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
