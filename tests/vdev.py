"""The virtual audio devices that scripts/audio-up makes (PipeWire null sinks).

- :func:`play_into_mic` plays a WAV into ``voicebot_mic``; its monitor is the default
  input device, so anything reading the default microphone hears it.
- :class:`SpeakerRecorder` records ``voicebot_speaker.monitor``: everything played on
  the default output device.

Only one test may use the devices at a time (they are machine-wide): use the
``audio_devices`` fixture from conftest.py, which holds a file lock.
"""

from __future__ import annotations

import os
import subprocess
import time
import wave

import numpy as np

MIC_SINK = "voicebot_mic"
SPEAKER_SINK = "voicebot_speaker"
RECORD_RATE = 48_000


def audio_available() -> bool:
    return bool(os.environ.get("XDG_RUNTIME_DIR")) and subprocess.run(
        ["pactl", "info"], capture_output=True).returncode == 0


def play_into_mic(wav_path: str, *, wait: bool = True) -> subprocess.Popen[bytes]:
    """Play ``wav_path`` into the virtual microphone (real time). Returns the process."""
    proc = subprocess.Popen(["paplay", f"--device={MIC_SINK}", wav_path])
    if wait:
        proc.wait(timeout=120)
    return proc


class SpeakerRecorder:
    """Record the virtual speaker's monitor as mono PCM16 at 48 kHz, in the background.

    Use as a context manager; after exit, :attr:`samples` holds float32 samples.
    """

    def __init__(self, rate: int = RECORD_RATE) -> None:
        self.rate = rate
        self.samples = np.zeros(0, dtype=np.float32)
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "SpeakerRecorder":
        self._proc = subprocess.Popen(
            ["parec", f"--device={SPEAKER_SINK}.monitor", "--format=s16le", f"--rate={self.rate}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE)
        time.sleep(0.3)  # let the stream connect before anything plays
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        time.sleep(0.3)  # the tail of what played is still in the sink's buffer
        self._proc.terminate()
        out, _ = self._proc.communicate(timeout=10)
        out = out[: len(out) - len(out) % 2]
        self.samples = np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


def write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
