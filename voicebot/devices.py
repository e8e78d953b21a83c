"""Listing and checking audio devices (the `voicebot devices` command). I/O edge."""

from __future__ import annotations

from typing import Any

from .errors import AudioDeviceError


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # libportaudio2 missing
        raise AudioDeviceError(f"PortAudio is not available ({exc}); on Debian/Ubuntu: "
                               "apt-get install libportaudio2") from None
    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    """Every device PortAudio sees, with which are the default input/output."""
    sd = _sd()
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
        sd = _sd()
    except AudioDeviceError:
        return False
    cls = sd.InputStream if kind == "input" else sd.OutputStream
    try:
        with cls(device=device, channels=1, dtype="float32"):
            pass
    except Exception:  # noqa: BLE001 - any PortAudio/ALSA failure: "no usable device"
        return False
    return True
