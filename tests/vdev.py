"""The virtual audio devices that scripts/audio-up makes (PipeWire null sinks).

- :func:`play_into_mic` plays a WAV into ``voicebot_mic``; its monitor is the default
  input device, so anything reading the default microphone hears it.
- :class:`SpeakerRecorder` records ``voicebot_speaker.monitor``: everything played on
  the default output device.

Only one test may use the devices at a time (they are machine-wide): use the
``audio_devices`` fixture from conftest.py, which holds a file lock.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

MIC_SINK = "voicebot_mic"
SPEAKER_SINK = "voicebot_speaker"
RECORD_RATE = 48_000
REPO = Path(__file__).resolve().parents[1]


def audio_available() -> bool:
    if not os.environ.get("XDG_RUNTIME_DIR"):
        return False
    try:
        return subprocess.run(["pactl", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:  # a sound server that hangs is as good as none
        return False


def start_rig() -> None:
    """scripts/audio-up: the sound server and both sinks, defaults set (idempotent); its
    environment (``XDG_RUNTIME_DIR``, ...) applied to this process."""
    out = subprocess.run([str(REPO / "scripts" / "audio-up")], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line.removeprefix("export ").split("=", 1)
            os.environ[name] = value.strip("'")


def rig_report() -> str:
    """What there is to know about a rig found down: which of its daemons run, the end
    of their logs (scripts/audio-up appends how each one ended), the kernel's last
    words about them (a crash, the OOM killer)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    lines = [f"XDG_RUNTIME_DIR={runtime or '(unset)'}"]
    for name in ("dbus-daemon", "pipewire", "wireplumber", "pipewire-pulse"):
        found = subprocess.run(["pgrep", "-a", "-x", name], capture_output=True,
                               text=True).stdout.strip()
        lines.append(f"{name}: {found or 'not running'}")
    for log in sorted(Path(runtime, "log").glob("*.log")) if runtime else ():
        tail = log.read_text(errors="replace").splitlines()[-8:]
        lines += [f"{log.name}:", *(f"  {t}" for t in tail)]
    try:
        kernel = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
    except OSError:
        kernel = []
    words = ("pipewire", "wireplumber", "oom", "killed process", "segfault")
    lines += [f"kernel: {k}" for k in kernel if any(w in k.lower() for w in words)][-8:]
    return "\n".join(lines)


def play_into_mic(wav_path: str, *, wait: bool = True) -> subprocess.Popen[bytes]:
    """Play ``wav_path`` into the virtual microphone (real time). Returns the process."""
    proc = subprocess.Popen(["paplay", f"--device={MIC_SINK}", wav_path])
    if wait:
        proc.wait(timeout=120)
    return proc


@contextlib.contextmanager
def speaker_loopback(latency_ms: int = 40, gain_db: float = -10.0) -> Iterator[None]:
    """The speaker's monitor looped into the virtual microphone (``module-loopback``):
    the microphone hears every reply ``latency_ms`` later at ``gain_db``, as a desk
    speaker's microphone would. Unloaded on exit (``scripts/audio-up`` also removes
    one a killed test left behind)."""
    module = subprocess.run(
        ["pactl", "load-module", "module-loopback", f"source={SPEAKER_SINK}.monitor",
         f"sink={MIC_SINK}", f"latency_msec={latency_ms}"],
        check=True, capture_output=True, text=True).stdout.strip()
    try:
        deadline = time.monotonic() + 5
        inputs: list[str] = []
        while time.monotonic() < deadline and not inputs:
            listing = subprocess.run(["pactl", "list", "sink-inputs"], check=True,
                                     capture_output=True, text=True).stdout
            # PipeWire's short listing shows no owner module: read the long one.
            current = None
            for line in listing.splitlines():
                line = line.strip()
                if line.startswith("Sink Input #"):
                    current = line.removeprefix("Sink Input #")
                elif line == f"Owner Module: {module}" and current is not None:
                    inputs.append(current)
            time.sleep(0.05)
        assert inputs, "the loopback's sink input did not appear"
        # The gain as a linear amplitude factor (a leading "-" would read as relative).
        subprocess.run(["pactl", "set-sink-input-volume", inputs[0],
                        f"{10 ** (gain_db / 20):.6f}"], check=True)
        yield
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)


class SpeakerRecorder:
    """Record the virtual speaker's monitor as mono PCM16 at 48 kHz, in the background.

    ``source``: another PulseAudio source to record instead (e.g. the microphone
    sink's monitor, ``f"{MIC_SINK}.monitor"``: what the microphone hears).

    Use as a context manager; after exit, :attr:`samples` holds float32 samples. A
    thread drains parec's output as it comes (a full pipe would stall the recording),
    and entering waits until samples flow: WirePlumber occasionally drops a new link
    ("item deactivated before format set"), and such a recorder is replaced instead
    of silently recording nothing. Exiting checks the recording kept pace with the
    wall clock, so a recorder that stalled fails loudly as a harness problem.
    """

    def __init__(self, rate: int = RECORD_RATE, source: str = f"{SPEAKER_SINK}.monitor") -> None:
        self.rate = rate
        self.source = source
        self.samples = np.zeros(0, dtype=np.float32)
        self._proc: subprocess.Popen[bytes] | None = None
        self._chunks: list[bytes] = []
        self._reader: threading.Thread | None = None
        self._started_at = 0.0

    def _start(self) -> bool:
        self._chunks = []
        self._proc = subprocess.Popen(
            ["parec", f"--device={self.source}", "--format=s16le", f"--rate={self.rate}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE)
        proc = self._proc

        def drain() -> None:
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(65536):
                self._chunks.append(chunk)

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if sum(map(len, self._chunks)) >= self.rate // 5:  # 100 ms of samples flowed
                return True
            time.sleep(0.02)
        self._stop()
        return False

    def _stop(self) -> bytes:
        assert self._proc is not None and self._reader is not None
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._reader.join(timeout=10)
        out = b"".join(self._chunks)
        return out[: len(out) - len(out) % 2]

    def __enter__(self) -> "SpeakerRecorder":
        for _ in range(3):
            if self._start():
                self._chunks = []  # keep only what comes from now on
                self._started_at = time.monotonic()
                return self
        raise RuntimeError("parec never delivered samples from the speaker monitor")

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # the tail of what played is still in the sink's buffer
        elapsed = time.monotonic() - self._started_at
        out = self._stop()
        self.samples = np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0
        recorded = len(self.samples) / self.rate
        if exc[0] is None and recorded < 0.8 * elapsed - 0.2:
            raise RuntimeError(f"speaker recorder stalled: {recorded:.2f} s recorded in "
                               f"{elapsed:.2f} s")


def write_wav(path: str, samples: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
