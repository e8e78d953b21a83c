#!/usr/bin/env python3
"""The wake word said over a reply: what openWakeWord scores after echo cancellation.

A kiosk with echo cancellation is stopped mid-reply by "hey jarvis, …" said over it.
Each take: a reply (eSpeak NG, tests/capture/aec_scene.py's room: 40 ms, early
reflections, a 250 ms RT60 tail, the echo at ``--echo-db``) and a talker saying "hey
jarvis, what time is it?" some seconds into it, at two levels. The model
("hey_jarvis", openWakeWord, fresh for each signal, its scores counted after its
warm-up as the kiosk's gate counts them) hears four signals, and the best score
around the wake word's end (-0.2 s … +1.2 s) is printed for each:

- talker: the talker alone with the room's noise (what the model makes of the take
  with no echo: takes it misses there are not the canceller's doing);
- mic: the raw microphone (talker + echo);
- output: the canceller's output before its guard (what the kiosk's wake word hears:
  ``EchoStage.heard`` with ``guard_vad_only``);
- linear: the same with no residual echo suppressor (``AecConfig(suppress=False)``).

Two situations: "cold", the canceller (and the model) start on the reply the wake
word is said over; "warm", both have heard an earlier reply first (6 s, then 1 s of
silence), as in a kiosk, which stays half-duplex until its canceller has learnt the
room. ``--only cold|warm`` runs one.

The summary counts, among the takes the model finds alone (talker >= 0.9), those
under the threshold (0.5) on each of the other signals.

Usage: .venv/bin/python scripts/bench_wake_over_reply.py [--echo-db -10,-4] [--only cold|warm]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "capture")]

from aec_scene import reply, room_impulse_response, to_pcm16  # noqa: E402
from speech import compose  # noqa: E402
from voicebot.capture.aec import AecConfig, EchoCanceller, aec_available  # noqa: E402
from voicebot.kiosk.engines import open_engine  # noqa: E402

RATE = 16_000
BLOCK = 960  # the kiosk's capture blocks (60 ms)
THRESHOLD = 0.5
VOICES = ("en-us", "en-gb", "en-us+m3")
STARTS_S = (1.5, 3.5, 5.0)
TALKER_PEAKS = (0.35, 0.2)


def best_score(x: np.ndarray, lo_s: float, hi_s: float) -> float:
    """The model's best counted score for chunks ending in [lo_s, hi_s]."""
    engine = open_engine("openwakeword", "hey_jarvis")
    try:
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
        step, best = engine.chunk_samples, 0.0
        for end in range(step, len(pcm) + 1, step):
            score = engine.score(pcm[end - step:end])
            if score is not None and end >= engine.warmup_samples and lo_s * RATE <= end <= hi_s * RATE:
                best = max(best, score)
        return best
    finally:
        engine.close()


def cancelled(mic: np.ndarray, ref: np.ndarray, *, suppress: bool) -> np.ndarray:
    """What the kiosk's wake word hears: the canceller's output before its guard."""
    aec = EchoCanceller(AecConfig(warmup_silence=False, suppress=suppress))
    m, r = to_pcm16(mic), to_pcm16(ref)
    heard = bytearray()
    for i in range(0, len(m), 2 * BLOCK):
        at = 2000.0 + i / 2 / RATE
        aec.push_reference(r[i:i + 2 * BLOCK], at)
        out = aec.process(m[i:i + 2 * BLOCK], at)
        heard += aec.unguarded if len(aec.unguarded) == len(out) else out
    aec.close()
    return np.frombuffer(bytes(heard), "<i2").astype(np.float32) / 32768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--echo-db", default="-10,-4", help="echo levels (dB), comma-separated")
    parser.add_argument("--only", choices=("cold", "warm"), help="one situation")
    args = parser.parse_args()
    if not aec_available():
        sys.exit("libspeexdsp1 is not installed")
    echo_dbs = [float(v) for v in args.echo_db.split(",")]
    for situation in ("cold", "warm") if args.only is None else (args.only,):
        run(situation == "warm", echo_dbs)


def run(warm: bool, echo_dbs: list[float]) -> None:
    names = ("talker", "mic", "output", "linear")
    rows: list[dict[str, float]] = []
    reference = reply(9.0)
    # The earlier reply the canceller learnt the room on (a different stretch of speech).
    before = (np.concatenate([reply(15.0)[-6 * RATE:], np.zeros(RATE, np.float32)]) if warm
              else np.zeros(0, np.float32))
    lead_s = len(before) / RATE
    reference = np.concatenate([before, reference]).astype(np.float32)
    print(f"\n{'warm' if warm else 'cold'}: {'after an earlier reply' if warm else 'from the reply on'}")
    print(f"{'voice':10} {'at s':>5} {'echo':>5} {'peak':>5} " + " ".join(f"{n:>7}" for n in names))
    for voice in VOICES:
        for start_s in STARTS_S:
            for echo_db in echo_dbs:
                for peak in TALKER_PEAKS:
                    talk, truth = compose([lead_s + start_s, "hey jarvis,", 0.05,
                                           "what time is it?", 1.0], RATE, voice=voice)
                    n = len(reference)
                    near = np.zeros(n, np.float32)
                    near[:min(n, len(talk))] = (peak * talk / np.abs(talk).max())[:n]
                    echo = np.convolve(reference, room_impulse_response(gain_db=echo_db))[:n]
                    noise = np.random.default_rng(1).normal(0, 10 ** (-60 / 20), n)
                    mic = (echo + near + noise).astype(np.float32)
                    signals = {"talker": (near + noise).astype(np.float32), "mic": mic,
                               "output": cancelled(mic, reference, suppress=True),
                               "linear": cancelled(mic, reference, suppress=False)}
                    lo, hi = truth[0].end_s - 0.2, truth[0].end_s + 1.2
                    row = {name: best_score(signals[name], lo, hi) for name in names}
                    rows.append(row)
                    print(f"{voice:10} {start_s:5.1f} {echo_db:5.0f} {peak:5.2f} "
                          + " ".join(f"{row[n]:7.2f}" for n in names), flush=True)
    found = [r for r in rows if r["talker"] >= 0.9]
    print(f"\nof {len(found)} takes the model finds alone (talker >= 0.9), under {THRESHOLD}:")
    for name in names[1:]:
        missed = sorted(r[name] for r in found if r[name] < THRESHOLD)
        print(f"  {name:7} {len(missed):3d}  {' '.join(f'{v:.2f}' for v in missed)}")
    print(f"of all {len(rows)} takes, under {THRESHOLD}: "
          + ", ".join(f"{name} {sum(r[name] < THRESHOLD for r in rows)}" for name in names))


if __name__ == "__main__":
    main()
