#!/usr/bin/env python3
"""Echo cancellation on speech: every candidate on the same simulated rooms, and CPU.

The far end is eSpeak NG speech (tests/speech.py); it reaches the microphone
through a synthetic room (tests/capture/aec_scene.py): 40 ms of delay the
timestamps do not see (the test rig's loopback), -10 dB, early reflections and a
250 ms RT60 tail, white noise at -60 dBFS. Each candidate gets the microphone and
the reference aligned by timestamps only, in 40 ms blocks, and is measured on:

- ERLE: echo return loss enhancement in single talk (mic power / output power over
  the frames where echo is present), over the whole cold-started run and after 3 s;
- VAD on echo only: webrtcvad + segmenter (UtteranceDetector) on the output with
  nobody speaking: SpeechStarted per minute and the share of 30 ms frames voiced;
- double talk: a second voice speaks over the reply every ~5 s; hits are its
  utterances detected (SpeechStarted between onset and end), with the median
  detection latency from onset;
- start triggers: false starts on the chosen canceller's output with nobody
  speaking, the echo at -10, -4 and +2 dB and on a moving echo path, and talkers
  detected, for the trigger used with echo cancellation and quicker or slower ones;
- CPU: process time per second of audio for the canceller alone (single thread;
  the machine is shared, so timings are noisy), and chat's capture thread as it
  runs with the chosen canceller: capture conversion + echo stage (reference
  resampling, canceller, guard) + VAD, in the capture's blocks.

Candidates that are not installed are listed as such: livekit (WebRTC APM over
livekit's FFI), pywebrtc-audio (WebRTC AEC3), pyaec (a Rust port of SpeexDSP's
MDF), aec-audio-processing (source only: it compiles WebRTC's APM, ~35 min on one
core here). ``speexaec`` (source only) wraps the same libspeexdsp as voicebot.

Usage: .venv/bin/python scripts/bench_aec.py [--seconds 60] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "capture")]

from aec_scene import (RATE, double_talk_parts, from_pcm16, reply,  # noqa: E402
                       room_impulse_response, scene, to_pcm16)

from voicebot.capture.segmenter import SpeechStarted  # noqa: E402
from voicebot.config import ECHO_START_FRAMES, Settings  # noqa: E402
from voicebot.capture.vad import CaptureConverter, UtteranceDetector  # noqa: E402
from voicebot.capture.aec import AecConfig, EchoCanceller  # noqa: E402
from voicebot.capture.aec_speex import SpeexEchoCanceller  # noqa: E402

BLOCK = 640  # 40 ms at 16 kHz
T0 = 1000.0  # the simulated stream clock at the first sample


class Candidate(Protocol):
    name: str

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes: ...


class NoAec:
    name = "none (microphone as is)"

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        return mic


class Chosen:
    """voicebot's EchoCanceller: reference pushed with DAC times, mic with ADC times."""

    def __init__(self, frame_ms: int = AecConfig.frame_ms, suppress: bool = True) -> None:
        self.name = (f"voicebot EchoCanceller (SpeexDSP, {frame_ms} ms frames"
                     f"{'' if suppress else ', no RES'})")
        self.aec = EchoCanceller(AecConfig(frame_ms=frame_ms, suppress=suppress))

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        self.aec.push_reference(ref, at)  # played now, reaches the DAC at `at`
        return self.aec.process(mic, at)


class SpeexRaw:
    """SpeexDSP with the timestamp-aligned reference only (no delay estimation)."""

    def __init__(self, filter_ms: int, suppress: bool = True) -> None:
        self.name = f"SpeexDSP alone, {filter_ms} ms filter{'' if suppress else ', no RES'}"
        self.aec = SpeexEchoCanceller(160, filter_ms * 16, RATE, suppress=suppress)

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        return b"".join(self.aec.cancel(mic[i:i + 320], ref[i:i + 320])
                        for i in range(0, len(mic), 320))


class PyWebrtcAudio:
    name = "pywebrtc-audio (WebRTC AEC3)"

    def __init__(self) -> None:
        import pywebrtc_audio

        self.ap = pywebrtc_audio.AudioProcessor(sample_rate=RATE, echo_cancellation=True)

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        out = self.ap.process(np.frombuffer(mic, "<i2"), np.frombuffer(ref, "<i2"))
        return bytes(out.tobytes())


class LiveKitApm:
    """livekit.rtc.AudioProcessingModule: 10 ms frames, the far-end frame first, then
    the near-end frame with the stream delay set (what it expects; feeding all of the
    far end first overruns its render buffer)."""

    name = "livekit APM (WebRTC AEC3, FFI)"

    def __init__(self) -> None:
        from livekit import rtc

        self.rtc = rtc
        self.apm = rtc.AudioProcessingModule(echo_cancellation=True)

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        out = []
        for i in range(0, len(mic), 320):
            self.apm.process_reverse_stream(self.rtc.AudioFrame(bytearray(ref[i:i + 320]),
                                                                RATE, 1, 160))
            near = self.rtc.AudioFrame(bytearray(mic[i:i + 320]), RATE, 1, 160)
            self.apm.set_stream_delay_ms(0)
            self.apm.process_stream(near)
            out.append(bytes(near.data.cast("B")))
        return b"".join(out)


class AecAudioProcessing:
    """aec-audio-processing (SWIG over webrtc-audio-processing, built from source)."""

    name = "aec-audio-processing (WebRTC APM, source)"

    def __init__(self) -> None:
        from aec_audio_processing import AudioProcessor

        self.ap = AudioProcessor(enable_aec=True, enable_ns=False, enable_agc=False,
                                 enable_vad=False)
        self.ap.set_stream_format(RATE, 1)
        self.ap.set_reverse_stream_format(RATE, 1)

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        out = []
        for i in range(0, len(mic), 320):
            self.ap.process_reverse_stream(ref[i:i + 320])
            self.ap.set_stream_delay(0)
            out.append(bytes(self.ap.process_stream(mic[i:i + 320])))
        return b"".join(out)


class PyAec:
    """pyaec's library called through ctypes buffers (its wrapper converts lists)."""

    name = "pyaec (Rust port of SpeexDSP MDF), 128 ms"

    def __init__(self) -> None:
        import pyaec

        self.lib = pyaec.lib
        self.handle = self.lib.AecNew(160, 2048, RATE, True)
        buf = ctypes.c_int16 * 160
        self.a, self.b, self.o = buf(), buf(), buf()
        p = ctypes.POINTER(ctypes.c_int16)
        self.pa, self.pb, self.po = (ctypes.cast(x, p) for x in (self.a, self.b, self.o))

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        out = []
        for i in range(0, len(mic), 320):
            ctypes.memmove(self.a, mic[i:i + 320], 320)
            ctypes.memmove(self.b, ref[i:i + 320], 320)
            self.lib.AecCancelEcho(self.handle, self.pa, self.pb, self.po, 160)
            out.append(bytes(self.o))
        return b"".join(out)


CANDIDATES: list[tuple[str, Callable[[], Candidate]]] = [
    ("none", NoAec),
    ("chosen", Chosen),
    ("chosen10", lambda: Chosen(10)),
    ("chosen-nores", lambda: Chosen(suppress=False)),
    ("speex64", lambda: SpeexRaw(64)),
    ("speex128", lambda: SpeexRaw(128)),
    ("speex128nores", lambda: SpeexRaw(128, suppress=False)),
    ("pywebrtc", PyWebrtcAudio),
    ("livekit", LiveKitApm),
    ("pyaec", PyAec),
    ("aap", AecAudioProcessing),
]


def run(cand: Candidate, mic: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float]:
    m, r = to_pcm16(mic), to_pcm16(ref)
    step = 2 * BLOCK
    outs = []
    t0 = time.process_time()
    for i in range(0, len(m) - len(m) % step, step):
        outs.append(cand.process(m[i:i + step], r[i:i + step], T0 + i / 2 / RATE))
    cpu = time.process_time() - t0
    return from_pcm16(b"".join(outs)), cpu


def erle_db(mic: np.ndarray, echo: np.ndarray, out: np.ndarray, skip_s: float = 0.0) -> float:
    f = 480
    n = min(len(out), len(mic)) // f * f
    active = (echo[:n].reshape(-1, f) ** 2).mean(1) > 10 ** (-50 / 10)
    active[: int(skip_s * RATE / f)] = False
    num = (mic[:n].reshape(-1, f)[active] ** 2).sum()
    den = (out[:n].reshape(-1, f)[active] ** 2).sum() + 1e-20
    return float(10 * np.log10(num / den))


def detect(out: np.ndarray) -> tuple[list[float], float]:
    """SpeechStarted times (s, when the event came) and the share of voiced frames."""
    det = UtteranceDetector()
    voiced = total = 0
    classify = det._classify  # noqa: SLF001 - count what webrtcvad says, frame by frame

    def counting(frame: bytes) -> bool:
        nonlocal voiced, total
        v = classify(frame)
        voiced += v
        total += 1
        return v

    det._classify = counting  # noqa: SLF001
    pcm = to_pcm16(out)
    starts = []
    for i in range(0, len(pcm), 2 * BLOCK):
        if any(isinstance(e, SpeechStarted) for e in det.feed(pcm[i:i + 2 * BLOCK])):
            starts.append(det.position / RATE)
    return starts, voiced / max(1, total)


def measure(make: Callable[[], Candidate], seconds: float) -> dict[str, object]:
    ref = reply(seconds)
    echo_only = scene(ref)
    talk = scene(ref, near=double_talk_parts(seconds))
    cand = make()
    out, cpu = run(cand, echo_only.mic, ref)
    starts, voiced = detect(out)
    out2, _ = run(make(), talk.mic, ref)
    starts2, _ = detect(out2)
    lat = []
    for s in talk.talk:
        hit = [t for t in starts2 if s.start_s <= t <= s.end_s]
        if hit:
            lat.append(hit[0] - s.start_s)
    return {
        "name": cand.name,
        "erle": erle_db(echo_only.mic, echo_only.echo, out),
        "erle3": erle_db(echo_only.mic, echo_only.echo, out, 3.0),
        "false_per_min": len(starts) * 60 / seconds,
        "first_false": starts[0] if starts else None,
        "voiced": voiced,
        "hits": f"{len(lat)}/{len(talk.talk)}",
        "latency": statistics.median(lat) if lat else None,
        "cpu_ms_per_s": cpu * 1000 / seconds,
    }


def moved_delay_mic(ref: np.ndarray, every_s: float = 5.0) -> np.ndarray:
    """The echo-only microphone, except that every ``every_s`` the echo path's delay
    moves (+20, +60, -40 ms, ... around the 40 ms the timestamps do not see), after
    60 ms of exact silence: a sound server's loopback missing its deadline."""
    moves = (20, 60, 20, 0, 40, -20)
    mic = scene(ref).mic.copy()
    gap = 60 * RATE // 1000
    for k, at in enumerate(range(int(every_s * RATE), len(ref), int(every_s * RATE))):
        extra = moves[k % len(moves)]
        moved = scene(ref, rir=room_impulse_response(delay_ms=40 + extra)).mic
        mic[at:] = moved[at:]
        mic[at:at + gap] = 0
    return mic


def trigger_starts(out: np.ndarray, voiced: int, window: int) -> list[float]:
    """SpeechStarted times (s) on ``out`` with a start trigger of ``voiced`` VAD frames
    of the last ``window``."""
    from voicebot.capture.segmenter import SegmenterConfig

    det = UtteranceDetector(SegmenterConfig(start_voiced_frames=voiced,
                                            start_window_frames=window))
    pcm = to_pcm16(out)
    return [det.position / RATE for i in range(0, len(pcm), 2 * BLOCK)
            for e in det.feed(pcm[i:i + 2 * BLOCK]) if isinstance(e, SpeechStarted)]


def moved_delay(seconds: float) -> None:
    """False starts on echo alone when the echo path moves, with and without the
    guard, for the segmenter's start trigger (8 of 10 frames) and the quicker one
    used with echo cancellation (config.ECHO_START_FRAMES)."""
    ref = reply(seconds)
    mic = moved_delay_mic(ref)
    moves = len(range(5 * RATE, len(ref), 5 * RATE))
    for guard in (True, False):
        out, _ = run(Chosen(), mic, ref) if guard else run(_Unguarded(), mic, ref)
        counts = []
        for voiced, window in ((8, 10), ECHO_START_FRAMES):
            n = len(trigger_starts(out, voiced, window))
            counts.append(f"{n} ({voiced} of {window} frames)")
        print(f"  {'with' if guard else 'without'} the guard: {moves} moves of the delay in "
              f"{seconds:.0f} s, false starts " + ", ".join(counts), flush=True)


def start_triggers(seconds: float) -> None:
    """The start trigger with echo cancellation (config.ECHO_START_FRAMES), against
    quicker and slower ones, on the chosen canceller's output: false starts with
    nobody speaking (the room's echo at the rig's -10 dB, then 6 and 12 dB louder: a
    louder speaker or a closer microphone; and the echo path that moves), and the
    talkers over the reply detected, with the delay from their onset."""
    ref = reply(seconds)
    rir = room_impulse_response()
    quiet = {"echo -10 dB": scene(ref).mic,
             "-4 dB": scene(ref, rir=2 * rir).mic,
             "+2 dB": scene(ref, rir=4 * rir).mic,
             "moving": moved_delay_mic(ref)}
    outs = {name: run(Chosen(), mic, ref)[0] for name, mic in quiet.items()}
    talk = scene(ref, near=double_talk_parts(seconds))
    out_talk = run(Chosen(), talk.mic, ref)[0]

    print(f"  {'trigger':14s} " + " ".join(f"{n:>11s}" for n in quiet)
          + "   talkers over the reply: detected, median / max after the onset")
    for voiced, window in ((8, 10), ECHO_START_FRAMES, (3, 4), (2, 3)):
        label = f"{voiced} of {window}" + (" (used)" if (voiced, window) == ECHO_START_FRAMES
                                          else "")
        falses = [len(trigger_starts(o, voiced, window)) for o in outs.values()]
        found = trigger_starts(out_talk, voiced, window)
        lat = [1000 * (hit[0] - t.start_s) for t in talk.talk
               if (hit := [f for f in found if t.start_s <= f <= t.end_s])]
        print(f"  {label:14s} " + " ".join(f"{n:>11d}" for n in falses)
              + f"   {len(lat)}/{len(talk.talk)}, {statistics.median(lat):.0f} / "
              f"{max(lat):.0f} ms", flush=True)


class _ReplyByReply(Chosen):
    """The chosen canceller fed as chat feeds it: the reference only while a reply
    plays (silence between replies is not pushed), so each reply starts the filter's
    young period afresh."""

    def __init__(self, config: AecConfig) -> None:
        self.name = "voicebot EchoCanceller, reply by reply"
        self.aec = EchoCanceller(config)

    def process(self, mic: bytes, ref: bytes, at: float) -> bytes:
        if any(ref):
            self.aec.push_reference(ref, at)
        return self.aec.process(mic, at)


#: Said over the replies (a talker interrupting): short, as people interrupt.
_INTERRUPTIONS = ("wait, stop", "no, what about tomorrow", "hold on a second", "excuse me",
                  "tell me again")


def successive_replies(seconds: float) -> None:
    """Replies of 6 s with 2 s between them, each one a young filter's again for its
    first second (AecConfig.guard_fresh_ms), with the residue floor used while young
    (AecConfig.guard_young_residual_db) and without it, and without the rule for the
    room's reverberation after a reply (AecConfig.guard_tail_ms): false starts on the echo alone
    (at the rig's -10 dB and louder), and talkers who interrupt early in a reply (0.15,
    0.4, 0.7, 1.0 and 2.0 s in, three voices), detected and how soon."""
    from speech import compose

    count = max(2, int(seconds // 8))
    base = reply(6.0 * count)
    ref = np.concatenate([part for i in range(0, len(base), 6 * RATE)
                          for part in (base[i:i + 6 * RATE], np.zeros(2 * RATE, np.float32))])
    near = np.zeros(len(ref), np.float32)
    spans = []
    for k in range(1, count):
        at_s = 8.0 * k + (0.15, 0.4, 0.7, 1.0, 2.0)[k % 5]
        said, truth = compose([_INTERRUPTIONS[k % len(_INTERRUPTIONS)]], RATE,
                              voice=("en-us", "en-us+f3", "en-us+m3")[k % 3])
        a = int(at_s * RATE)
        near[a:a + len(said)] += 0.5 * said[:len(near) - a]
        spans.append((at_s + truth[0].start_s, at_s + truth[0].end_s))
    rir = room_impulse_response()
    voiced, window = ECHO_START_FRAMES
    used = AecConfig().guard_young_residual_db
    for floor, tail_ms in ((used, AecConfig().guard_tail_ms), (None, AecConfig().guard_tail_ms),
                           (used, 0)):
        config = AecConfig(guard_young_residual_db=floor, guard_tail_ms=tail_ms)
        falses = [len(trigger_starts(run(_ReplyByReply(config), scene(ref, rir=g * rir).mic,
                                         ref)[0], voiced, window))
                  for g in (1.0, 2.0, 4.0)]
        out = run(_ReplyByReply(config), scene(ref).mic + near, ref)[0]
        found = trigger_starts(out, voiced, window)
        lat = [1000 * (hit[0] - a) for a, b in spans
               if (hit := [f for f in found if a <= f <= b + 0.2])]
        others = sum(1 for f in found if not any(a <= f <= b + 0.2 for a, b in spans))
        label = ("none" if floor is None else f"{floor:.0f} dB") + (
            f", tail rule {tail_ms} ms" if tail_ms else ", no tail rule")
        print(f"  young residue floor {label:28s} false starts (echo -10 / -4 / +2 dB): "
              f"{' / '.join(map(str, falses))}; talkers {len(lat)}/{len(spans)}, median "
              f"{statistics.median(lat):.0f} / max {max(lat):.0f} ms; other starts {others}",
              flush=True)


class _Unguarded(Chosen):
    def __init__(self) -> None:
        self.name = "voicebot EchoCanceller without the guard"
        self.aec = EchoCanceller(AecConfig(guard=False))


def chosen_pipeline_cpu(seconds: float, block_ms: int) -> tuple[float, float]:
    """CPU per second of audio on chat's capture thread, reference playing throughout:
    capture conversion (48 kHz stereo → 16 kHz) + VAD; the same with the echo stage
    as chat runs it (the speaker's 10 ms blocks recorded into a ReferenceRing at 48
    kHz, drained and resampled to 16 kHz by SpeakerReference, steady capture times,
    the canceller and its guard). The recording stands for the speaker's callback:
    it is not the capture thread's work, but it is counted here (~0.2 ms)."""
    from voicebot.capture.echo import EchoStage, SpeakerReference
    from voicebot.capture.reference import ReferenceRing

    ref = reply(seconds)
    echo = scene(ref)
    mic48 = np.repeat(echo.mic, 3)  # 48 kHz stand-in for the device stream (cost only)
    stereo = np.stack([mic48, mic48], axis=1).astype(np.float32)
    ref48 = np.repeat(ref, 3).astype(np.float32)
    block48 = 48 * block_ms

    def once(with_aec: bool) -> float:
        conv, det = CaptureConverter(48_000, 2), UtteranceDetector()
        ring = ReferenceRing(48_000)
        stage = EchoStage(EchoCanceller(), [SpeakerReference(ring)]) if with_aec else None
        t0 = time.process_time()
        done = 0
        for i in range(0, len(stereo) - block48 + 1, block48):
            pcm = conv.feed(stereo[i:i + block48])
            if stage is not None:
                for j in range(i, i + block48, 480):  # what the speaker played meanwhile
                    ring.record(ref48[j:j + 480], T0 + j / 48_000)
                pcm = stage.process(pcm, T0 + done / RATE)
            done += len(pcm) // 2
            det.feed(pcm)
        return (time.process_time() - t0) * 1000 / seconds

    # Interleaved, best of three: the machine is shared.
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):
        for with_aec in runs:
            runs[with_aec].append(once(with_aec))
    return min(runs[False]), min(runs[True])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--only", default="", help="comma-separated candidate keys: "
                    + ", ".join(k for k, _ in CANDIDATES))
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    print(f"simulated room: 40 ms hidden delay, -10 dB, RT60 0.25 s, noise -60 dBFS; "
          f"{args.seconds:.0f} s of reply, 40 ms blocks, cold start")
    print(f"{'candidate':52s} {'ERLE':>6s} {'>3 s':>6s} {'VAD false':>10s} {'voiced':>7s} "
          f"{'double talk':>12s} {'latency':>8s} {'CPU':>10s}")
    for key, make in CANDIDATES:
        if only and key not in only:
            continue
        try:
            r = measure(make, args.seconds)
        except ImportError as exc:
            print(f"{key:52s} not installed ({exc.name})")
            continue
        lat = f"{r['latency'] * 1000:.0f} ms" if r["latency"] is not None else "-"
        print(f"{r['name']:52s} {r['erle']:5.1f}  {r['erle3']:5.1f}  "
              f"{r['false_per_min']:5.1f}/min {r['voiced'] * 100:5.1f}%  {r['hits']:>12s} "
              f"{lat:>8s} {r['cpu_ms_per_s']:5.2f} ms/s", flush=True)
    if not only or "chosen" in only:
        print("\nan echo path that moves (60 ms dropout, then the delay moves), echo only:")
        moved_delay(args.seconds)
        print(f"\nstart triggers (voiced VAD frames of the last so many, 30 ms each): false "
              f"starts with nobody speaking in {args.seconds:.0f} s:")
        start_triggers(args.seconds)
        print(f"\nreplies one after another ({max(2, int(args.seconds // 8))} of 6 s, 2 s "
              f"apart), start trigger {'/'.join(map(str, ECHO_START_FRAMES))}:")
        successive_replies(args.seconds)
        block_ms = Settings().capture_block_ms
        base, full = chosen_pipeline_cpu(min(args.seconds, 30.0), block_ms)
        print(f"\nchat's capture thread, {block_ms} ms blocks, best of 3: capture (48 kHz "
              f"stereo → 16 kHz) + VAD: {base:.2f} ms CPU per s of audio; + the echo stage "
              f"(reference resampled, canceller, guard): {full:.2f} ms ({full / 10:.2f} % of "
              f"one core)")


if __name__ == "__main__":
    main()
