#!/usr/bin/env python3
"""Write the kiosk's earcons to assets/earcons/NAME.wav (48 kHz mono PCM16).

Usage: .venv/bin/python scripts/make_earcons.py [--out DIR]

The sounds are made from numbers by ``voicebot/kiosk/earcons.py`` (sine notes with
raised-cosine fades, peak −10.5 dBFS; nothing recorded, nothing copyrighted). The
kiosk synthesises them itself at its speaker's rate; these files are for listening
to them and for checking them (tests/kiosk/test_earcons.py compares the two).
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from voicebot.audio import encode_wav, float_to_pcm16  # noqa: E402
from voicebot.kiosk.earcons import EARCON_NAMES, duration_ms, synthesize  # noqa: E402

RATE = 48_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "assets", "earcons"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in EARCON_NAMES:
        path = os.path.join(args.out, f"{name}.wav")
        with open(path, "wb") as f:
            f.write(encode_wav(float_to_pcm16(synthesize(name, RATE)), RATE))
        print(f"{path}: {duration_ms(name):.0f} ms")


if __name__ == "__main__":
    main()
