"""Voice to voice on the virtual devices: end of speech → the reply's first sound, by stage.

Runs the real `voicebot chat --json` (the embedded offline backend unless --base-url is
given) on the PipeWire virtual devices that scripts/audio-up makes, plays an eSpeak NG
question into the virtual microphone, waits for the answer, and repeats. Every figure
comes from the `turn.done` records' `latency_ms` (each stage in ms after the end of
speech as the VAD placed it) and is printed as p50/p90 per stage.

    eval "$(scripts/audio-up)"; .venv/bin/python scripts/bench_voice.py [--turns 8]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from procs import json_events  # noqa: E402
from speech import compose  # noqa: E402
from vdev import play_into_mic, write_wav  # noqa: E402

QUESTIONS: list[list[str | float]] = [
    ["what time is it"], ["what is two plus two"], ["what is the date today"],
    ["what is twelve times seven"], ["what is twelve", 0.35, "times seven"]]
STAGES = ("endpoint", "request_sent", "first_byte", "first_audio", "first_sound")


def _until(events: queue.Queue[dict | None], kind: str, timeout_s: float,
           seen: list[dict] | None = None) -> dict:
    """The next event of ``kind``; the others on the way are appended to ``seen``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event is None:
            raise RuntimeError("voicebot exited")
        if event["type"] == kind:
            return event
        if seen is not None:
            seen.append(event)
    raise RuntimeError(f"no {kind} within {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--base-url", help="a server of the API (default: the embedded one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for this run (TOML value: off, 240, true)")
    args = parser.parse_args()
    if not os.environ.get("XDG_RUNTIME_DIR"):
        print("run scripts/audio-up first: eval \"$(scripts/audio-up)\"", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp())
    wavs = []
    for i, question in enumerate(QUESTIONS):
        said, _ = compose([0.3, *question, 0.3], 16_000)
        wavs.append(tmp / f"q{i}.wav")
        write_wav(str(wavs[-1]), said, 16_000)
    cmd = [sys.executable, "-m", "voicebot", "chat", "--json", "--max-turns", str(args.turns)]
    if args.base_url:
        cmd += ["--base-url", args.base_url]
    else:
        cmd += ["--local"]
    config = tmp / "config.toml"
    config.write_text("".join(f"{_toml_line(item)}\n" for item in args.set))
    cmd += ["--config", str(config)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    done: list[dict] = []
    summary: dict = {}
    try:
        events = json_events(proc)
        _until(events, "listening", 60)
        time.sleep(3.0)  # the embedded server's engines warm up (loading them holds the GIL)
        for turn in range(args.turns):
            play_into_mic(str(wavs[turn % len(wavs)]))
            seen: list[dict] = []
            try:
                done.append(_until(events, "turn.done", 60, seen))
            except RuntimeError:
                print(f"turn {turn + 1}: events before the failure: {seen[-12:]}",
                      file=sys.stderr)
                raise
            time.sleep(0.5)
        summary = _until(events, "summary", 30)
    except RuntimeError:
        proc.terminate()
        print(proc.communicate(timeout=10)[1][-3000:], file=sys.stderr)
        raise
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"voice to voice, {len(done)} turns, "
          f"{'embedded backend' if not args.base_url else args.base_url}; ms after the end "
          "of speech:")
    print(f"{'stage':<14}{'p50':>8}{'p90':>8}{'max':>8}")
    for stage in STAGES:
        values = sorted(d["latency_ms"][stage] for d in done if d["latency_ms"].get(stage) is not None)
        if not values:
            continue
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(f"{stage:<14}{statistics.median(values):>8.0f}{p90:>8.0f}{values[-1]:>8.0f}")
    pre = summary.get("preemptive") or {}
    print(f"preemptive requests: {pre.get('sent', 0)} sent, {pre.get('discarded', 0)} discarded "
          f"(extra upstream requests); settings: {' '.join(args.set) or 'defaults'}")
    print("  turn  " + " ".join(f"{stage[:11]:>11}" for stage in STAGES) + "  reply")
    for d in done:
        ms = [d["latency_ms"].get(stage) for stage in STAGES]
        print(f"  {d['turn']:>4}  " + " ".join(f"{'-' if v is None else round(v):>11}"
                                               for v in ms) + f"  {d['text'][:40]}")
    return 0


def _toml_line(item: str) -> str:
    """``key=value`` as a TOML line: numbers and booleans as they are, else a string."""
    key, _, value = item.partition("=")
    bare = value in ("true", "false") or value.lstrip("-").replace(".", "", 1).isdigit()
    return f"{key.strip()} = {value if bare else repr(value)}"


if __name__ == "__main__":
    sys.exit(main())
