#!/usr/bin/env python3
"""Regenerate the sample utterances in assets/ (16 kHz mono PCM16 WAV, espeak-ng).

Usage: .venv/bin/python scripts/make_assets.py [--out DIR]

Each asset is built with ``tests/speech.py``'s ``compose`` (speech trimmed and
placed at exact offsets), so its ground truth is known; this prints it. The
pauses in conversation.wav (2.5 s) are far above the segmenter's 0.7 s
hang-over, so a headless demo hears two separate turns. Needs espeak-ng.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

from speech import compose  # noqa: E402  (tests/speech.py: espeak-ng with ground truth)

from voicebot.audio import encode_wav, float_to_pcm16  # noqa: E402

RATE = 16_000
#: name → parts for ``compose``: a float is seconds of silence, a str is speech.
ASSETS: dict[str, list[str | float]] = {
    "what-time-is-it.wav": [0.4, "what time is it", 0.8],
    "what-can-you-do.wav": [0.4, "what can you do", 0.8],
    "conversation.wav": [0.4, "what time is it", 2.5, "what is twelve times seven", 0.8],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "assets"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, parts in ASSETS.items():
        samples, truth = compose(parts, RATE)
        data = encode_wav(float_to_pcm16(samples), RATE)
        path = os.path.join(args.out, name)
        with open(path, "wb") as f:
            f.write(data)
        spoken = ", ".join(f"{s.text!r} {s.start_s:.3f}-{s.end_s:.3f} s" for s in truth)
        print(f"{path}: {len(samples) / RATE:.2f} s, {len(data) // 1024} KiB: {spoken}")


if __name__ == "__main__":
    main()
