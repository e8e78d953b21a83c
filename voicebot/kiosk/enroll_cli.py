"""``voicebot kiosk --enroll``: record the wake word from the microphone (or read
takes from WAV files), train the verifier (:mod:`.enroll`), save it where the kiosk
finds it.

The I/O edge: the microphone stream, the prompts on the terminal, the files. Runs
on the main thread; the stream's callback (PortAudio's thread) only copies into a
buffer allocated before the stream starts.
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..config import Settings
from ..console import Console
from ..devices import device_arg, sounddevice_module
from ..errors import AudioDeviceError, ConfigError
from .enroll import EnrolResult, default_verifier_path, enroll, recorded_takes
from .run import wake_word_name

__all__ = ["command", "record_takes", "read_takes"]

ROOM_TONE_S = 2.0
TAKE_S = 3.0


def record_takes(input_device: int | str | None, takes: int, prompt: Any,
                 *, room_tone_s: float = ROOM_TONE_S, take_s: float = TAKE_S
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Record ``room_tone_s`` of the quiet room, then ``takes`` slots of ``take_s``,
    calling ``prompt(i)`` at the start of slot ``i``. Returns the takes and the room
    tone (int16, 16 kHz)."""
    sd = sounddevice_module()
    total = int((room_tone_s + takes * take_s + 0.2) * VAD_SAMPLE_RATE)
    buffer = np.zeros(total, np.int16)
    filled = [0]  # samples written (callback thread); read after the stream stops
    done = threading.Event()

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        start = filled[0]
        n = min(frames, total - start)
        buffer[start:start + n] = indata[:n, 0]
        filled[0] = start + n
        if start + n >= total:
            done.set()
            raise sd.CallbackStop

    try:
        stream = sd.InputStream(device=input_device, channels=1, dtype="int16",
                                samplerate=VAD_SAMPLE_RATE, callback=callback)
    except (ValueError, sd.PortAudioError) as exc:
        raise AudioDeviceError(f"cannot open the microphone ({exc}); `voicebot devices` "
                               "lists them") from None
    starts = []
    with stream:
        t0 = time.monotonic()
        for i in range(takes):
            wait = room_tone_s + i * take_s - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
            starts.append(filled[0])
            prompt(i)
        if not done.wait(take_s + 5.0):
            raise AudioDeviceError("the microphone stopped delivering audio")
    room = int(room_tone_s * VAD_SAMPLE_RATE)
    return (recorded_takes(buffer, starts, int(take_s * VAD_SAMPLE_RATE)),
            buffer[VAD_SAMPLE_RATE // 4: room])


def read_takes(paths: Sequence[str]) -> list[np.ndarray]:
    """Each file one take: 16 kHz mono 16-bit WAV (what `voicebot` records and eSpeak
    makes with ``-w`` after resampling); anything else is refused with the reason."""
    takes = []
    for path in paths:
        try:
            with wave.open(str(Path(path).expanduser()), "rb") as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (VAD_SAMPLE_RATE, 1, 2):
                    raise ConfigError(f"{path}: need 16 kHz mono 16-bit WAV, not "
                                      f"{w.getframerate()} Hz, {w.getnchannels()} channels, "
                                      f"{8 * w.getsampwidth()}-bit")
                takes.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").copy())
        except (OSError, wave.Error, EOFError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
    return takes


def command(settings: Settings, console: Console, *, takes: int,
            files: Sequence[str] | None) -> int:
    """Enrol the configured wake word; exit code 0 when the verifier is saved."""
    model = wake_word_name(settings)
    if model is None:
        raise ConfigError("no wake word is configured (wake_word = none): nothing to enrol")
    room_tone = None
    if files:
        recorded = read_takes(files)
    else:
        def prompt(i: int) -> None:
            console.notice(f"say {model.replace('_', ' ')!r} now ({i + 1}/{takes})")

        console.notice(f"enrolling {model!r}: stay quiet for {ROOM_TONE_S:g} s, then say the "
                     f"wake word once at each prompt")
        recorded, room_tone = record_takes(device_arg(settings.input_device), takes, prompt)
    console.notice("learning (the first time also makes synthetic speech to learn from: "
                 "up to a minute)")
    result = enroll(model, recorded, room_tone=room_tone,
                    cache=Path.home() / ".cache" / "voicebot" / "wakeword")
    path = Path(settings.wake_word_verifier) if settings.wake_word_verifier not in (
        "", "auto", "none") else default_verifier_path(model)
    result.verifier.save(path)
    _report(console, result, path)
    return 0


def _report(console: Console, result: EnrolResult, path: Path) -> None:
    if console.json_mode:
        console.event("enrolled", model=result.verifier.model, path=str(path),
                      takes=result.takes, takes_heard=result.takes_heard,
                      positive_windows=result.positive_windows,
                      negative_windows=result.negative_windows,
                      positive_min=round(result.positive_min, 3),
                      negative_max=round(result.negative_max, 3))
        return
    console.notice(f"heard the wake word in {result.takes_heard} of {result.takes} takes; "
                 f"learnt from {result.positive_windows} windows of it and "
                 f"{result.negative_windows} of other speech (lowest on the takes "
                 f"{result.positive_min:.2f}, highest on other speech "
                 f"{result.negative_max:.2f}, fires at {result.verifier.threshold:.2f})")
    console.notice(f"saved {path}: the kiosk uses it from its next start")
