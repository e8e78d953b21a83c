#!/usr/bin/env python3
"""What listening to a silent room costs: the whole ``voicebot chat`` process, and floors.

Usage (on the PipeWire virtual devices, as ``scripts/bench`` runs it)::

    eval "$(scripts/audio-up)"
    .venv/bin/python scripts/bench_idle.py [--seconds 20] [--warmup 3] [--only chat,floors,blocks]

Every figure is a separate process measured from outside: CPU as utime+stime of
``/proc/<pid>/stat`` (all its threads) over ``--seconds`` after ``--warmup``, in
percent of one core; RSS from ``/proc/<pid>/status`` at the end. Nothing plays
into the virtual microphone (its monitor delivers digital silence; ``--noise``
plays -60 dBFS white noise into it instead, a quiet room).

- ``chat``: ``voicebot chat --base-url`` pointing at a loopback listener (so no
  embedded server runs; a silent room never starts a turn, so it is never asked
  anything), with the virtual speaker open. Also shown per thread (the event
  loop is the main thread; ``vb-capture`` is the capture worker; PortAudio's
  threads carry the interpreter's name) and, with ``--profile`` and py-spy
  installed, the Python functions that ran most.
- ``local``: ``voicebot chat --local``, the embedded server in the chat's process, with
  ``speech_workers = 0`` (recognition in that process) and 2 (its first recognition
  worker, started with the server, measured too: CPU and RSS of each process).
- ``floors``: ``parec`` on the same device (C, PulseAudio protocol), and a bare
  Python loop of blocking PortAudio reads at each block size.
- ``blocks``: the capture stage alone (``MicrophoneSource`` + ``capture_events``
  in an asyncio loop, nothing else) at each block size.
- ``wake``: the kiosk's listening floor, a minimal whole process: blocking reads of
  60 ms blocks on the capture thread's chain (conversion, webrtcvad and the
  segmenter, the wake-word detector fed each block with the VAD's verdict), no
  event loop, no speaker; the wake word VAD-gated (the default), on every chunk, and
  microWakeWord; in the room chosen (silence, ``--noise``) and with speech played
  into the microphone (eSpeak sentences, ``--speech`` adds the rows).
- ``kiosk``: the whole ``voicebot kiosk --json`` (wake word "hey jarvis", its
  speaker open, ``--base-url`` a loopback listener as for ``chat``), with echo
  cancellation (``--aec on``) and without (``--aec off``), in the room chosen and
  with speech played into the microphone (``--speech``: nobody says the wake word,
  so nothing plays and the canceller rests: it runs only while a reference plays).
- ``wakepaced``: the same chain with no device at all (the audio of a silent room,
  -60 dBFS noise or talk handed out at real time from memory): what the kiosk's
  own work costs, without PortAudio and PipeWire (the ``floors`` give those).
- ``arith``: the capture thread's Python work per block alone (conversion, VAD,
  segmenter: ``DetectorFeed.feed`` on 44.1 kHz mono noise), no device.
- ``speaker``: what stopping the output stream between replies costs the next
  reply. Replies (a 1 s sweep, pushed at twice real time like a fast server) are
  played with a short pause (the stream still runs: warm) or a long one (stopped
  after the linger: cold); per kind, the time from the first push to the
  callback that carries the first sample, PortAudio's DAC delay after it, and how
  whole each reply is in a recording of the speaker's monitor.

The machine is shared: run it when nothing else does, and read a few tenths of a
percent as noise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import wave
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_MIC_SINK = "voicebot_mic"


# -- measuring a process from outside ----------------------------------------------------

def _stat_ticks(path: str) -> int:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _threads(pid: int) -> dict[int, tuple[str, int]]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            out[int(tid)] = (name, _stat_ticks(f"/proc/{pid}/task/{tid}/stat"))
        except OSError:  # the thread ended meanwhile
            continue
    return out


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Usage:
    def __init__(self, cpu_pct: float, rss_mb: float, threads: list[tuple[str, float]]) -> None:
        self.cpu_pct, self.rss_mb, self.threads = cpu_pct, rss_mb, threads


def measure(pid: int, warmup_s: float, seconds: float) -> Usage:
    time.sleep(warmup_s)
    t0, c0, th0 = time.monotonic(), _stat_ticks(f"/proc/{pid}/stat"), _threads(pid)
    time.sleep(seconds)
    t1, c1, th1 = time.monotonic(), _stat_ticks(f"/proc/{pid}/stat"), _threads(pid)
    wall = t1 - t0
    threads = []
    for tid, (name, ticks) in sorted(th1.items()):
        used = ticks - th0.get(tid, (name, 0))[1]
        label = "main (event loop)" if tid == pid else name
        threads.append((f"{label} [{tid}]", 100 * used * _TICK_S / wall))
    return Usage(100 * (c1 - c0) * _TICK_S / wall, _rss_mb(pid), threads)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the processes measured -----------------------------------------------------------

def _wait_for_line(proc: subprocess.Popen[bytes], needle: bytes, timeout_s: float) -> None:
    """Read the child's stdout until a line contains ``needle``; keep draining after."""
    assert proc.stdout is not None
    found = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if needle in line:
                found.set()
        found.set()  # EOF: stop waiting, the caller sees the exit code

    threading.Thread(target=drain, daemon=True).start()
    if not found.wait(timeout_s) or proc.poll() is not None:
        raise SystemExit(f"bench_idle: {' '.join(map(str, proc.args))!r} did not start "
                         f"(exit {proc.poll()})")


def run_chat(args: argparse.Namespace, *, play: bool) -> Usage:
    """``voicebot chat`` against a loopback listener that is never asked anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    cmd = [sys.executable, "-m", "voicebot", "chat", "--json",
           "--base-url", f"http://127.0.0.1:{port}/v1"] + ([] if play else ["--no-play"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        _wait_for_line(proc, b'"listening"', 30)
        return _measure_profiled(proc.pid, args)
    finally:
        _stop(proc)
        listener.close()


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    return " ".join([os.path.basename(argv[0]), *argv[1:3]]).strip()


def run_chat_local(args: argparse.Namespace, speech_workers: int
                   ) -> tuple[Usage, list[tuple[str, Usage]]]:
    """``voicebot chat --local``: the embedded server in the chat's process, and its
    recognition worker (started at start-up, ``speech_workers`` > 0) measured too."""
    config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    config.write(f"speech_workers = {speech_workers}\n")
    config.close()
    cmd = [sys.executable, "-m", "voicebot", "chat", "--json", "--local", "--config",
           config.name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        _wait_for_line(proc, b'"listening"', 60)
        deadline = time.monotonic() + 30
        while speech_workers and not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.0)  # the worker loads its model
        pids = [proc.pid, *_children(proc.pid)]
        t0, c0 = time.monotonic(), [_stat_ticks(f"/proc/{p}/stat") for p in pids]
        time.sleep(args.warmup + args.seconds)
        t1, c1 = time.monotonic(), [_stat_ticks(f"/proc/{p}/stat") for p in pids]
        usages = [Usage(100 * (b - a) * _TICK_S / (t1 - t0), _rss_mb(p), [])
                  for p, a, b in zip(pids, c0, c1)]
        return usages[0], [(_command(p), u) for p, u in zip(pids[1:], usages[1:])]
    finally:
        _stop(proc)
        with_suppressed_remove(config.name)


def run_kiosk(args: argparse.Namespace, *, aec: str) -> Usage:
    """``voicebot kiosk`` against a loopback listener; no wake word is said."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    cmd = [sys.executable, "-m", "voicebot", "kiosk", "--json", "--aec", aec,
           "--base-url", f"http://127.0.0.1:{port}/v1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        _wait_for_line(proc, b'"sleeping"', 60)
        return _measure_profiled(proc.pid, args)
    finally:
        _stop(proc)
        listener.close()


def _measure_profiled(pid: int, args: argparse.Namespace) -> Usage:
    """:func:`measure`, with py-spy's profile printed after it when ``--profile``."""
    profile = _start_profile(pid, args) if args.profile and shutil.which("py-spy") else None
    usage = measure(pid, args.warmup, args.seconds)
    if profile is not None:
        _print_profile(profile, args.warmup + args.seconds)
    return usage


def _start_profile(pid: int, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    out = tempfile.mktemp(suffix=".txt")
    # Sampling starts now and covers the warm-up and the measurement; only samples
    # in which a thread runs are kept (py-spy drops idle ones by default).
    proc = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--nonblocking", "--threads", "--duration", str(int(args.warmup + args.seconds)),
         "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def _print_profile(profile: tuple[subprocess.Popen[bytes], str], seconds: float) -> None:
    """The leaf frames that were running most, per thread, in % of one core.

    A leaf inside a C call (``Pa_ReadStream`` in sounddevice's ``_raw_read``) is
    time spent in PortAudio and PipeWire's ALSA plugin, not in Python.
    """
    proc, out = profile
    proc.wait(timeout=60)
    own: collections.Counter[str] = collections.Counter()
    try:
        with open(out) as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                frames = stack.split(";")
                if len(frames) < 2:
                    continue  # a thread blocked in C with no Python frame: idle
                thread = frames[0].split(": ", 1)[-1]
                leaf = frames[-1]
                if "_raw_read" in leaf:
                    leaf += " = inside Pa_ReadStream (waiting counts too)"
                own[f"[{thread}] {leaf}"] += int(count)
    except FileNotFoundError:
        print("  (py-spy wrote no profile)")
        return
    finally:
        with_suppressed_remove(out)
    print("  py-spy (200 samples/s), running Python frames, % of one core:")
    for where, n in own.most_common(10):
        print(f"    {100 * n / 200 / seconds:5.2f} %  {where}")


def with_suppressed_remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def run_child(args: argparse.Namespace, *child: str) -> Usage:
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", *child],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        _wait_for_line(proc, b"ready", 30)
        return measure(proc.pid, args.warmup, args.seconds)
    finally:
        _stop(proc)


def run_parec(args: argparse.Namespace) -> Usage:
    proc = subprocess.Popen(["parec", f"--device={_MIC_SINK}.monitor", "--raw"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return measure(proc.pid, args.warmup, args.seconds)
    finally:
        _stop(proc)


# -- child processes (run by this script itself) ------------------------------------

def child_blocking_reads(block_ms: int) -> None:
    """A bare loop of blocking PortAudio reads, nothing done with the samples."""
    import sounddevice as sd

    info = sd.query_devices(None, "input")
    rate = int(info["default_samplerate"])
    frames = rate * block_ms // 1000
    with sd.InputStream(samplerate=rate, channels=min(2, int(info["max_input_channels"])),
                        dtype="float32", blocksize=frames) as stream:
        print("ready", flush=True)
        while True:
            stream.read(frames)


def _room(kind: str, seconds: float) -> np.ndarray:
    """int16 16 kHz audio of a room: digital silence, -60 dBFS noise, or eSpeak talk."""
    n = int(seconds * 16_000)
    if kind == "silence":
        return np.zeros(n, np.int16)
    if kind == "noise":
        rng = np.random.default_rng(0)
        return (rng.normal(0, 10 ** (-60 / 20), n) * 32767).astype(np.int16)
    return _speech_pcm(seconds)


class _PacedRoom:
    """Blocks of a room's audio handed out at real time (sleeping between them), in
    place of a device: the whole process without PortAudio (see the floors for its cost)."""

    def __init__(self, kind: str, frames: int) -> None:
        self.frames = frames
        self._audio = _room(kind, 60.0).astype(np.float32)[:, None] / 32768
        self._i = 0
        self._next = time.monotonic()

    def read(self, frames: int) -> tuple[np.ndarray, bool]:
        self._next += frames / 16_000
        time.sleep(max(0.0, self._next - time.monotonic()))
        if self._i + frames > len(self._audio):
            self._i = 0
        block = self._audio[self._i:self._i + frames]
        self._i += frames
        return block, False


def child_wake(block_ms: int, mode: str, source: str = "mic") -> None:
    """The kiosk's capture-thread chain with a wake-word detector, on blocking reads
    (``source`` "mic"), or on a room's audio paced at real time ("silence", "noise",
    "speech": no device)."""
    import contextlib

    import sounddevice as sd

    from voicebot.capture.vad import CaptureConverter, UtteranceDetector, Vad
    from voicebot.capture.vadmodels import VoicedTap
    from voicebot.kiosk.wakeword import WakeWordConfig, WakeWordDetector

    wake = WakeWordDetector({
        "vad": WakeWordConfig(),
        "always": WakeWordConfig(gate="always"),
        "micro": WakeWordConfig(engine="microwakeword", gate="always"),
        "onset": WakeWordConfig(onset_window_ms=1800),
        "fused": WakeWordConfig(second_engine="microwakeword", second_threshold=0.8,
                                onset_window_ms=1800),
        "look": WakeWordConfig(second_look=1.3),
        "onsetlook": WakeWordConfig(onset_window_ms=1800, second_look=1.3)}[mode])
    tap = VoicedTap(Vad(3).is_speech)
    detector = UtteranceDetector(classify=tap)
    stream: Any
    if source == "mic":
        info = sd.query_devices(None, "input")
        rate = int(info["default_samplerate"])
        frames = rate * block_ms // 1000
        stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=frames)
    else:
        rate, frames = 16_000, 16 * block_ms
        stream = _PacedRoom(source, frames)
    converter = CaptureConverter(rate, 1)
    position = 0
    with stream if source == "mic" else contextlib.nullcontext():
        print("ready", flush=True)
        while True:
            block, _ = stream.read(frames)
            pcm = converter.feed(block)
            detector.feed(pcm)
            samples = np.frombuffer(pcm, np.int16)
            for found in wake.feed(samples, position, tap.take()):
                print(f"wake {found.name} {found.end_position}", flush=True)
            position += len(samples)


def _speech_into_mic(seconds: float) -> subprocess.Popen[bytes]:
    """eSpeak sentences back to back (0.3-1 s apart) into the virtual microphone: a room
    with people talking (or a TV)."""
    pcm = _speech_pcm(seconds).astype("<i2")
    path = tempfile.mktemp(suffix=".wav")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(pcm.tobytes())
    return subprocess.Popen(["paplay", f"--device={_MIC_SINK}", path])


def _speech_pcm(seconds: float) -> np.ndarray:
    """int16 16 kHz eSpeak sentences back to back, 0.3-1 s apart."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from speech import synth

    rng = np.random.default_rng(1)
    texts = ["the weather will be mild today with some rain in the evening",
             "and now the news from around the world at six o'clock",
             "she told me that the garden looked lovely in the spring",
             "turn left at the next corner and then go straight on",
             "we are going to need more coffee before the meeting starts"]
    pieces, n = [], 0
    while n < seconds * 16_000:
        s = synth(texts[len(pieces) // 2 % len(texts)], 16_000, voice="en-us", wpm=170)
        gap = np.zeros(int(rng.uniform(0.3, 1.0) * 16_000), np.float32)
        pieces += [s, gap]
        n += len(s) + len(gap)
    return (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype(np.int16)


def child_capture(block_ms: int) -> None:
    """The capture stage alone: the microphone through ``capture_events``, in a loop."""
    from voicebot.capture.listen import capture_events
    from voicebot.capture.mic import MicrophoneSource
    from voicebot.capture.vad import UtteranceDetector

    async def main() -> None:
        async with MicrophoneSource(None, block_ms=block_ms) as mic:
            print("ready", flush=True)
            async for _ in capture_events(mic, UtteranceDetector()):
                pass

    asyncio.run(main())


# -- the capture arithmetic ----------------------------------------------------------

def run_arith(blocks_ms: list[int]) -> None:
    from voicebot.capture.vad import UtteranceDetector
    from voicebot.capture.worker import DetectorFeed

    rate = 44_100
    noise = np.random.default_rng(0).normal(0, 10 ** (-60 / 20), (rate * 30, 1))
    noise = noise.astype(np.float32)
    for block_ms in blocks_ms:
        frames = rate * block_ms // 1000
        feed = DetectorFeed(UtteranceDetector(), rate, 1)
        blocks = [noise[i:i + frames] for i in range(0, len(noise) - frames + 1, frames)]
        t0 = time.process_time()
        for block in blocks:
            feed.feed([block], 0)
        used = time.process_time() - t0
        per_block_us = 1e6 * used / len(blocks)
        print(f"{'capture arithmetic alone (convert, VAD, segment), ' + str(block_ms) + ' ms':<58} "
              f"{100 * used / (len(blocks) * block_ms / 1000):6.2f} %  "
              f"({per_block_us:.0f} µs per block)", flush=True)


# -- the speaker's restart ----------------------------------------------------------

def _sweep(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * (300 * t + 0.5 * (2700 / seconds) * t * t)
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)
    return (0.3 * np.sin(phase) * fade).astype(np.float32)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _find(recording: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    n = len(recording) + len(reference)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)), size)
    lag = int(np.argmax(corr[: max(1, len(recording) - len(reference))]))
    return lag, _similarity(recording[lag:lag + len(reference)], reference)


def run_speaker(replies: int, linger_ms: float) -> None:
    from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16
    from voicebot.playback import Speaker

    record_rate = 48_000
    reply = _sweep(API_SAMPLE_RATE)
    pcm = float_to_pcm16(reply)
    chunk = API_SAMPLE_RATE // 10 * 2  # 100 ms per delta
    rec = subprocess.Popen(["parec", "--device=voicebot_speaker.monitor", "--format=float32le",
                            f"--rate={record_rate}", "--channels=1", "--latency-msec=20"],
                           stdout=subprocess.PIPE)
    recorded: list[bytes] = []

    def drain() -> None:
        assert rec.stdout is not None
        while data := rec.stdout.read1(65536):
            recorded.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)

    async def play() -> list[tuple[bool, float, float, float]]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, loop=loop, linger_ms=linger_ms)
        rows = []
        try:
            for i in range(replies):
                starts = speaker.stream_starts
                t0 = time.perf_counter()
                for k in range(0, len(pcm), chunk):
                    speaker.push_pcm16(pcm[k:k + chunk])
                    if k == 0:
                        push_ms = 1000 * (time.perf_counter() - t0)
                    await asyncio.sleep(0.05)
                speaker.end_of_stream()
                await speaker.drained()
                assert speaker.first_sample_played_at is not None and speaker.first_push_at
                first_ms = 1000 * (speaker.first_sample_played_at - speaker.first_push_at)
                dac_ms = 1000 * (speaker.first_sample_dac_delay or 0.0)
                rows.append((speaker.stream_starts > starts, first_ms, dac_ms, push_ms))
                # short pause: the stream lingers (warm); long: it was stopped (cold)
                await asyncio.sleep(0.2 if i % 2 == 0 else linger_ms / 1000 + 0.5)
        finally:
            speaker.close()
        return rows

    rows = asyncio.run(play())
    time.sleep(0.3)
    rec.terminate()
    rec.wait()
    reader.join(5)
    recording = np.frombuffer(b"".join(recorded)[: len(b"".join(recorded)) // 4 * 4], "<f4")
    import soxr

    reference = soxr.resample(reply, API_SAMPLE_RATE, record_rate).astype(np.float32)
    found, pos = [], 0
    for _ in rows:
        if len(recording) - pos < len(reference):
            found.append(float("nan"))  # the recording ended early
            continue
        # the next reply starts within the longest pause after the last one
        window = recording[pos:pos + len(reference) + int((linger_ms / 1000 + 2) * record_rate)]
        lag, sim = _find(window, reference)
        found.append(sim)
        pos += lag + len(reference)
    print(f"  (recorded {len(recording) / record_rate:.1f} s)")
    for kind, cold in (("cold (stream started)", True), ("warm (stream running)", False)):
        sel = [(r, f) for r, f in zip(rows, found) if r[0] == cold]
        if not sel:
            continue
        first = sorted(r[1] for r, _ in sel)
        print(f"speaker, {kind:<22} {len(sel)} replies: first push → first sample out of the "
              f"callback p50 {first[len(first) // 2]:.0f} ms (max {first[-1]:.0f}), DAC delay "
              f"after it {np.median([r[2] for r, _ in sel]):.0f} ms, first push (start included) "
              f"{max(r[3] for r, _ in sel):.1f} ms, worst similarity {min(f for _, f in sel):.3f}")


# -- main ----------------------------------------------------------------------------

def _noise_into_mic(seconds: float) -> subprocess.Popen[bytes]:
    rate = 48_000
    path = tempfile.mktemp(suffix=".wav")
    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 10 ** (-60 / 20), int(rate * seconds)) * 32768).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return subprocess.Popen(["paplay", f"--device={_MIC_SINK}", path])


def run_wake(args: argparse.Namespace, room: str) -> None:
    labels = {"vad": "wake word VAD-gated (default)", "always": "wake word on every chunk",
              "micro": "microWakeWord on every chunk"}
    rooms = [(room, None)]
    if args.speech:
        rooms.append(("speech played in", lambda: _speech_into_mic(3 * (args.seconds
                                                                        + args.warmup) + 30)))
    for room_label, start in rooms:
        for mode in ("vad", "always", "micro"):
            player = start() if start is not None else None
            try:
                _row(f"kiosk floor: {labels[mode]}, {room_label}",
                     run_child(args, "wake", "60", mode))
            finally:
                if player is not None:
                    _stop(player)


def run_wake_paced(args: argparse.Namespace) -> None:
    labels = {"vad": "wake word VAD-gated (default)", "always": "wake word on every chunk",
              "micro": "microWakeWord on every chunk",
              "onset": "VAD-gated, onset window 1.8 s",
              "fused": "onset window + microWakeWord (0.8)",
              "look": "VAD-gated + second look x1.3",
              "onsetlook": "onset window + second look x1.3"}
    for room in ("silence", "noise", "speech"):
        for mode in args.wake_modes.split(","):
            _row(f"kiosk chain, no device: {labels[mode]}, {room}",
                 run_child(args, "wake", "60", mode, room))


def _row(label: str, u: Usage) -> None:
    print(f"{label:<58} {u.cpu_pct:6.2f} %  {u.rss_mb:6.1f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--only", default="chat,floors,blocks,arith,speaker",
                    help="comma-separated parts: chat, local, nospeaker, floors, blocks, wake, kiosk, "
                         "wakepaced, arith, "
                         "speaker")
    ap.add_argument("--blocks-ms", default="20,40,60,100")
    ap.add_argument("--wake-modes", default="vad,always,micro",
                    help="wakepaced: vad, always, micro, onset (onset window 1.8 s), fused "
                         "(onset window and microWakeWord beside openWakeWord), look (the "
                         "second look, x1.3), onsetlook (onset window and second look)")
    ap.add_argument("--noise", action="store_true", help="play -60 dBFS noise into the mic")
    ap.add_argument("--speech", action="store_true",
                    help="wake, kiosk: also measure with speech played into the mic")
    ap.add_argument("--profile", action="store_true", help="py-spy the chat and kiosk processes")
    ap.add_argument("--replies", type=int, default=8, help="speaker: replies to play")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, block_ms = args.child[0], int(args.child[1])
        if kind == "wake":
            child_wake(block_ms, *args.child[2:])
        else:
            {"read": child_blocking_reads, "capture": child_capture}[kind](block_ms)
        return
    parts = set(args.only.split(","))
    blocks = [int(b) for b in args.blocks_ms.split(",")]
    noise = _noise_into_mic(3600) if args.noise else None
    room = "-60 dBFS noise" if args.noise else "digital silence"
    print(f"idle cost, {args.seconds:g} s after {args.warmup:g} s warm-up, room: {room}; "
          "CPU in % of one core, RSS")
    try:
        if "chat" in parts:
            u = run_chat(args, play=True)
            _row("voicebot chat --base-url (loopback), speaker open", u)
            for name, pct in u.threads:
                if pct >= 0.05:
                    print(f"    thread {name:<40} {pct:6.2f} %")
        if "local" in parts:
            for workers in (0, 2):
                parent, children = run_chat_local(args, workers)
                _row(f"voicebot chat --local, speech_workers={workers}: chat process", parent)
                for command, child in children:
                    _row(f"    its child {command[:44]}", child)
        if "nospeaker" in parts:
            _row("voicebot chat --base-url (loopback) --no-play", run_chat(args, play=False))
        if "floors" in parts:
            if shutil.which("parec"):
                _row("floor: parec (C, PulseAudio protocol)", run_parec(args))
            for b in blocks:
                _row(f"floor: Python blocking PortAudio reads, {b} ms blocks",
                     run_child(args, "read", str(b)))
        if "blocks" in parts:
            for b in blocks:
                _row(f"capture stage alone (capture_events), {b} ms blocks",
                     run_child(args, "capture", str(b)))
        if "wake" in parts:
            run_wake(args, room)
        if "kiosk" in parts:
            rooms = [(room, None)] + ([("speech played in", _speech_into_mic)]
                                      if args.speech else [])
            for room_label, start in rooms:
                for aec in ("on", "off"):
                    player = start(3 * (args.seconds + args.warmup) + 60) if start else None
                    try:
                        u = run_kiosk(args, aec=aec)
                        _row(f"voicebot kiosk --aec {aec}, {room_label}", u)
                        for name, pct in u.threads:
                            if pct >= 0.05:
                                print(f"    thread {name:<40} {pct:6.2f} %")
                    finally:
                        if player is not None:
                            _stop(player)
        if "wakepaced" in parts:
            run_wake_paced(args)
        if "arith" in parts:
            run_arith(blocks)
        if "speaker" in parts:
            run_speaker(args.replies, linger_ms=1000.0)
    finally:
        if noise is not None:
            _stop(noise)


if __name__ == "__main__":
    main()
