#!/usr/bin/env python3
"""Benchmark the jitter buffer's policies on arrival traces (simulated time, no device).

Replays each trace of voicebot.playback.jittersim.bench_traces through the real
JitterBuffer: deltas pushed at their arrival times, 10 ms blocks pulled at real time.
Prints, per trace, the hindsight optimum (the smallest start delay with which
continuous playback never waits: in continuous time, and for this player, which
pulls 10 ms blocks on a grid and keeps a 3 ms fade reserve) and, for fixed prebuffers
of 60/120/250 ms and the adaptive policy: start delay, underruns, total gap time,
samples lost and (start delay + gaps) / optimum. Then, over many seeds of the
jittery traces, how often each policy meets the goal (nothing lost, ≤ 1 underrun,
start delay + gaps ≤ 1.25 × optimum, or ≤ optimum + 20 ms when that is more).

Usage: .venv/bin/python scripts/bench_jitter.py [--seed 1] [--seeds 100] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicebot.playback.jitterpolicy import JitterPolicy  # noqa: E402
from voicebot.playback.jittersim import (  # noqa: E402
    bench_traces, block_optimum_s, hindsight_delay_s, replay)

POLICIES = [("fixed 60 ms", JitterPolicy.fixed(60)), ("fixed 120 ms", JitterPolicy.fixed(120)),
            ("fixed 250 ms", JitterPolicy.fixed(250)), ("adaptive", JitterPolicy())]


def table(seed: int, markdown: bool) -> None:
    head = ["trace", "optimum ms (cont. / player)", "policy", "start ms", "underruns",
            "gaps ms", "lost", "(start+gaps)/opt", "goal"]
    rows = []
    for trace in bench_traces(seed):
        cont, player = hindsight_delay_s(trace), block_optimum_s(trace)
        for i, (name, policy) in enumerate(POLICIES):
            r = replay(trace, policy)
            goal = ("yes" if r.meets_goal(player) else "no") if trace.realistic else "n/a"
            rows.append([trace.name if i == 0 else "",
                         f"{cont * 1000:.0f} / {player * 1000:.0f}" if i == 0 else "",
                         name, f"{r.start_delay_s * 1000:.0f}", str(r.underruns),
                         f"{r.gap_s * 1000:.0f}", str(r.frames_lost),
                         f"{r.cost_s / player:.2f}" if player > 0 else "-", goal])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def summary(seeds: int, markdown: bool) -> None:
    realistic = [t.name for t in bench_traces(1) if t.realistic]
    met = {(t, p): 0 for t in realistic for p, _ in POLICIES}
    for seed in range(1, seeds + 1):
        for trace in bench_traces(seed):
            if not trace.realistic:
                continue
            player = block_optimum_s(trace)
            for name, policy in POLICIES:
                met[trace.name, name] += replay(trace, policy).meets_goal(player)
    head = ["trace"] + [p for p, _ in POLICIES]
    print(f"\nGoal met, share of {seeds} seeds of each realistic trace:")
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    for t in realistic:
        cells = [f"{100 * met[t, p] / seeds:.0f} %" for p, _ in POLICIES]
        print(("| " + " | ".join([t] + cells) + " |") if markdown
              else f"  {t:18s}" + "".join(f"{c:>14s}" for c in cells))
    if not markdown:
        print("  " + " " * 18 + "".join(f"{p:>14s}" for p, _ in POLICIES))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="seed of the jittery traces in the table")
    ap.add_argument("--seeds", type=int, default=100, help="seeds in the goal summary (0: none)")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = ap.parse_args()
    table(args.seed, args.markdown)
    if args.seeds:
        summary(args.seeds, args.markdown)


if __name__ == "__main__":
    main()
