"""``voicebot kiosk --enroll``: record one person saying the wake word and reading the
passage (:mod:`.passage`), keep their recordings beside the verifier, learn the
verifier from everyone enrolled so far (:mod:`.enroll`), save it where the kiosk
finds it. ``--enroll-from`` reads the takes (and ``--enroll-reading`` the readings)
from WAV files instead of the microphone.

The I/O edge: the microphone stream, the prompts on the terminal, the files. Runs
on the main thread; the stream's callback (PortAudio's thread) only copies into a
buffer allocated before the stream starts.
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..config import Settings
from ..console import Console
from ..devices import device_arg, sounddevice_module
from ..errors import AudioDeviceError, ConfigError
from .enroll import EnrolResult, default_verifier_path, enroll
from .passage import reading_passage
from .run import wake_word_name

__all__ = ["command", "record_slots", "read_wavs", "people_path", "READING_PAIRS"]

ROOM_TONE_S = 2.0
TAKE_S = 3.0
#: A line of the passage: a Harvard sentence or five words, at a calm pace.
LINE_S = 4.5
#: Harvard sentences (each with a line of sounds-like words) each person reads: about
#: 55 s of speech. scripts/bench_verifier.py: README "Wake-word enrolment".
READING_PAIRS = 10


def record_slots(input_device: int | str | None, slots: Sequence[float],
                 prompt: Callable[[int], None], *, room_tone_s: float = ROOM_TONE_S
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Record ``room_tone_s`` of the quiet room, then one slot of each of ``slots``
    seconds, calling ``prompt(i)`` at the start of slot ``i``. Returns the slots and
    the room tone (int16, 16 kHz)."""
    sd = sounddevice_module()
    total = int((room_tone_s + sum(slots) + 0.2) * VAD_SAMPLE_RATE)
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
        for i in range(len(slots)):
            wait = room_tone_s + sum(slots[:i]) - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
            starts.append(filled[0])
            prompt(i)
        if not done.wait(slots[-1] + 5.0 if slots else 5.0):
            raise AudioDeviceError("the microphone stopped delivering audio")
    room = int(room_tone_s * VAD_SAMPLE_RATE)
    cuts = [int(s * VAD_SAMPLE_RATE) for s in slots]
    # Slots do not overlap, so no window counts twice.
    return ([buffer[s:s + n].copy() for s, n in zip(starts, cuts)],
            buffer[VAD_SAMPLE_RATE // 4: room].copy())


def read_wavs(paths: Sequence[str]) -> list[np.ndarray]:
    """Each file one recording: 16 kHz mono 16-bit WAV (what `voicebot` records and
    eSpeak makes with ``-w`` after resampling); anything else is refused with the
    reason."""
    out = []
    for path in paths:
        try:
            with wave.open(str(Path(path).expanduser()), "rb") as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (VAD_SAMPLE_RATE, 1, 2):
                    raise ConfigError(f"{path}: need 16 kHz mono 16-bit WAV, not "
                                      f"{w.getframerate()} Hz, {w.getnchannels()} channels, "
                                      f"{8 * w.getsampwidth()}-bit")
                out.append(np.frombuffer(w.readframes(w.getnframes()), "<i2").copy())
        except (OSError, wave.Error, EOFError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
    return out


def people_path(verifier: Path) -> Path:
    """Where the recordings of everyone enrolled are kept, beside the verifier."""
    return verifier.with_name(verifier.name.removesuffix(".npz") + ".people")


def _save_person(folder: Path, takes: list[np.ndarray], reading: np.ndarray | None,
                 room_tone: np.ndarray | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"person-{len(list(folder.glob('person-*.npz'))) + 1}.npz"
    arrays: dict[str, Any] = {f"take{i}": t for i, t in enumerate(takes)}
    if reading is not None:
        arrays["reading"] = reading
    if room_tone is not None:
        arrays["room_tone"] = room_tone
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)
    return path


def _load_people(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray],
                                        np.ndarray | None]:
    """Everyone's takes and readings, and the latest room tone."""
    takes, readings, tone = [], [], None
    for path in sorted(folder.glob("person-*.npz"), key=lambda p: int(p.stem[7:])):
        try:
            with np.load(path, allow_pickle=False) as f:
                takes += [f[k] for k in sorted((k for k in f.files if k.startswith("take")),
                                               key=lambda k: int(k[4:]))]
                if "reading" in f.files:
                    readings.append(f["reading"])
                if "room_tone" in f.files:
                    tone = f["room_tone"]
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise ConfigError(f"cannot read the enrolment {str(path)!r} "
                              f"({type(exc).__name__}): `voicebot kiosk --enroll-reset` "
                              "starts over") from None
    return takes, readings, tone


def command(settings: Settings, console: Console, *, takes: int,
            files: Sequence[str] | None, readings: Sequence[str] | None = None,
            reset: bool = False, reading_pairs: int | None = None) -> int:
    """Enrol one more person for the configured wake word (or, with ``reset``, forget
    everyone enrolled); exit code 0 when done."""
    model = wake_word_name(settings)
    if model is None:
        raise ConfigError("no wake word is configured (wake_word = none): nothing to enrol")
    path = Path(settings.wake_word_verifier).expanduser() if settings.wake_word_verifier not in (
        "", "auto", "none") else default_verifier_path(model)
    folder = people_path(path)
    if reset:
        for old in [*folder.glob("person-*.npz"), path]:
            old.unlink(missing_ok=True)
        console.notice(f"forgot every enrolment of {model!r}: the kiosk runs without a verifier")
        return 0
    room_tone = None
    if files:
        recorded = read_wavs(files)
        reading = np.concatenate(read_wavs(readings)) if readings else None
    else:
        try:
            lines = reading_passage(model, reading_pairs or READING_PAIRS)
        except ValueError as exc:
            raise ConfigError(f"--enroll-lines: {exc}") from None
        recorded, reading, room_tone = _record(settings, console, model, takes, lines)
    _save_person(folder, recorded, reading, room_tone)
    all_takes, all_readings, tone = _load_people(folder)
    console.notice(f"learning from {len(all_takes)} takes and {len(all_readings)} readings "
                   "(the first time also makes synthetic speech to learn from: up to a minute)")
    result = enroll(model, all_takes, room_tone=tone, readings=all_readings,
                    cache=Path.home() / ".cache" / "voicebot" / "wakeword")
    result.verifier.save(path)
    _report(console, result, path)
    return 0


def _record(settings: Settings, console: Console, model: str, takes: int,
            lines: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One person at the microphone: the takes, then ``lines``, one by one."""
    word = model.replace("_", " ")
    slots = [TAKE_S] * takes + [LINE_S] * len(lines)

    def prompt(i: int) -> None:
        if i < takes:
            console.event("enroll.prompt", slot=i, say=word)
            console.notice(f"say {word!r} now ({i + 1}/{takes})")
        else:
            if i == takes:
                console.notice("now read each line aloud as it appears, at your usual pace")
            console.event("enroll.prompt", slot=i, read=lines[i - takes])
            console.notice(f"  {lines[i - takes]}")

    console.notice(f"enrolling {model!r} (about {ROOM_TONE_S + sum(slots):.0f} s): stay quiet "
                   f"for {ROOM_TONE_S:g} s, then say the wake word once at each prompt")
    recorded, room_tone = record_slots(device_arg(settings.input_device), slots, prompt)
    reading = np.concatenate(recorded[takes:])
    return recorded[:takes], reading, room_tone


def _report(console: Console, result: EnrolResult, path: Path) -> None:
    if console.json_mode:
        console.event("enrolled", model=result.verifier.model, path=str(path),
                      takes=result.takes, takes_heard=result.takes_heard,
                      positive_windows=result.positive_windows,
                      negative_windows=result.negative_windows,
                      reading_windows=result.reading_windows,
                      threshold=round(result.verifier.threshold, 4),
                      positive_min=round(result.positive_min, 3),
                      negative_max=round(result.negative_max, 3))
        return
    console.notice(f"heard the wake word in {result.takes_heard} of {result.takes} takes; "
                   f"learnt from {result.positive_windows} windows of it and "
                   f"{result.negative_windows} of other speech ({result.reading_windows} of "
                   f"the readings; lowest on the takes {result.positive_min:.2f}, highest on "
                   f"other speech {result.negative_max:.2f}, fires at "
                   f"{result.verifier.threshold:.3f})")
    console.notice(f"saved {path}: the kiosk uses it from its next start")
