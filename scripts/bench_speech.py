#!/usr/bin/env python3
"""Benchmark the local server's speech engines and print the numbers.

Recognition: real-time factor (decode time / audio duration) per phrase and on
average, and word error rate, for the phrase-biased recogniser and for the
general language model alone, on eSpeak NG speech of the assistant's phrases.
Synthesis: time to the first sentence's audio for a short reply, and the
real-time factor of a longer text.

Usage: .venv/bin/python scripts/bench_speech.py [--voices en-us,en-gb,en-us+f2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from speech import synth

from voicebot.speech.recognize import PocketsphinxRecognizer
from voicebot.speech.synth import Synthesizer

PHRASES = [
    "what time is it", "what is the time", "what's the date", "what day is it",
    "what is twelve times seven", "what is 3 plus 4", "set a timer for five minutes",
    "how much time is left on my timer", "what can you do", "repeat after me …",
    "hello", "thank you", "goodbye",
]
SPOKEN = [
    "what time is it", "what is the time", "what's the date", "what day is it",
    "what is twelve times seven", "what is three plus four", "set a timer for five minutes",
    "how much time is left on my timer", "what can you do", "hello", "thank you", "goodbye",
    "what is one hundred divided by four", "what is forty two minus seventeen",
    "set a timer for one minute", "repeat after me i love pizza",
]
SHORT_REPLY = "It is ten thirty. Anything else?"
LONG_TEXT = " ".join([
    "The local server speaks with eSpeak NG.", "Every sentence is synthesised on its own.",
    "The first one leaves before the rest is ready.", "Dr. Smith measured it at 3.5 ms.",
] * 5)


def word_errors(ref: str, hyp: str) -> int:
    r, h = ref.split(), hyp.split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return row[-1]


def bench_recognition(voices: list[str]) -> None:
    t0 = time.perf_counter()
    biased = PocketsphinxRecognizer(PHRASES, max_decoders=1)
    free = PocketsphinxRecognizer(max_decoders=1)
    print(f"recogniser start-up: {(time.perf_counter() - t0) / 2 * 1000:.0f} ms each")
    print(f"{'voice':<10} {'phrase':<38} {'RTF bias':>8} {'RTF free':>8}  biased result")
    totals = {"biased": [0, 0, 0.0, 0], "free": [0, 0, 0.0, 0]}  # errors, words, time, exact
    audio_s = 0.0
    for voice in voices:
        for phrase in SPOKEN:
            x = synth(phrase, 16_000, voice=voice)
            duration = len(x) / 16_000
            audio_s += duration
            row = []
            for name, rec in (("biased", biased), ("free", free)):
                t = time.perf_counter()
                text = rec.transcribe(x, 16_000)
                elapsed = time.perf_counter() - t
                tot = totals[name]
                tot[0] += word_errors(phrase, text)
                tot[1] += len(phrase.split())
                tot[2] += elapsed
                tot[3] += text == phrase
                row.append((elapsed / duration, text))
            mark = "" if row[0][1] == phrase else "   <-- wrong"
            print(f"{voice:<10} {phrase:<38} {row[0][0]:>8.3f} {row[1][0]:>8.3f}  "
                  f"{row[0][1]}{mark}")
    n = len(voices) * len(SPOKEN)
    for name, (errors, words, elapsed, exact) in totals.items():
        print(f"{name:>6}: WER {errors / words:6.1%}  exact {exact}/{n}  "
              f"average RTF {elapsed / audio_s:.3f}")


def bench_synthesis() -> None:
    tts = Synthesizer()
    tts.synthesize_all("Warm up.")
    t = time.perf_counter()
    pieces = tts.synthesize(SHORT_REPLY)
    first = next(pieces)
    first_ms = (time.perf_counter() - t) * 1000
    rest = b"".join(pieces)
    print(f"synthesis: first sentence's audio after {first_ms:.1f} ms "
          f"({len(first) / 2 / tts.sample_rate:.2f} s of audio; short reply "
          f"{(len(first) + len(rest)) / 2 / tts.sample_rate:.2f} s)")
    for voice in ("alloy", "onyx"):
        t = time.perf_counter()
        pcm = tts.synthesize_all(LONG_TEXT, voice=voice)
        elapsed = time.perf_counter() - t
        duration = len(pcm) / 2 / tts.sample_rate
        print(f"synthesis RTF ({voice}): {elapsed / duration:.4f} "
              f"({duration:.1f} s of audio in {elapsed * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="en-us,en-gb,en-us+f2",
                        help="espeak-ng voices for the recognition test speech")
    args = parser.parse_args()
    bench_synthesis()
    bench_recognition(args.voices.split(","))


if __name__ == "__main__":
    main()
