#!/usr/bin/env python3
"""What the kiosk's status screen costs the kiosk process.

Usage::

    .venv/bin/python scripts/bench_screen.py [--pages 0,1,4] [--turns 200] [--idle-seconds 30]

- ``publish``: the loop thread's time in ``ScreenHub.publish`` per record (folding it
  into the screen state, encoding it and its snapshot once, queueing for each page),
  over a turn-like mix of records (a state, the user's words, 20 transcript deltas,
  done; the 40 audio records in between are skipped and not counted), with N pages
  connected that read everything.
- ``idle``: a screen server alone in a child process with one page connected and a
  timer counting down (the page counts on its own clock: nothing is sent), CPU as
  utime+stime of ``/proc/<pid>/stat`` over ``--idle-seconds``, in percent of one core,
  and its RSS.

The machine may be shared: read small differences as noise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicebot.kiosk.screen import ScreenHub, ScreenServer  # noqa: E402
from voicebot.turntaking.events import (  # noqa: E402
    AudioReceived,
    Event,
    StateChanged,
    TranscriptDelta,
    TurnDone,
    UserSaid,
)

CHILD = """
import asyncio, sys
from voicebot.kiosk.screen import ScreenHub, ScreenServer
from voicebot.turntaking.events import StateChanged, TimerSet
async def main():
    hub = ScreenHub(lambda c: None)
    hub.publish(StateChanged("sleeping"))
    hub.publish(TimerSet(id="1", label="pasta", duration_s=3600.0))
    async with ScreenServer(hub, port=0) as server:
        print(server.port, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def turn_records(turn: int) -> list[Event]:
    records: list[Event] = [StateChanged("thinking"),
                            UserSaid(turn=turn, audio_s=1.4, transcript="what is the weather")]
    total = 0
    for i in range(40):
        total += 4800
        records.append(AudioReceived(turn=turn, bytes=4800, total_bytes=total))
        if i % 2 == 0:
            records.append(TranscriptDelta(turn=turn, text=f"word{i} "))
    records += [TurnDone(turn=turn, text="…", audio_bytes=total, audio_id=None,
                         finish_reason="stop"), StateChanged("listening")]
    return records


async def bench_publish(pages: int, turns: int) -> list[float]:
    hub = ScreenHub(lambda c: None)
    async with ScreenServer(hub, port=0) as server:
        clients = [await connect(f"ws://127.0.0.1:{server.port}/ws") for _ in range(pages)]

        async def drain(ws: object) -> None:
            async for _ in ws:  # type: ignore[attr-defined]
                pass

        readers = [asyncio.create_task(drain(ws)) for ws in clients]
        per_record: list[float] = []
        for turn in range(1, turns + 1):
            for record in turn_records(turn):
                start = time.perf_counter()
                hub.publish(record)
                if record.type not in hub.SKIPPED_TYPES:  # audio: a dictionary lookup
                    per_record.append(time.perf_counter() - start)
            await asyncio.sleep(0)  # the writers send between turns
        for ws in clients:
            await ws.close()
        for task in readers:
            task.cancel()
    return per_record


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_idle(seconds: float) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.recv()
            await asyncio.sleep(1.0)
            before = cpu_s(child.pid)
            await asyncio.sleep(seconds)
            used = cpu_s(child.pid) - before
            return 100 * used / seconds, rss_mb(child.pid)
    finally:
        child.terminate()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", default="0,1,4")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    for pages in (int(p) for p in args.pages.split(",")):
        times = sorted(asyncio.run(bench_publish(pages, args.turns)))
        p50 = statistics.median(times) * 1e6
        p99 = times[int(len(times) * 0.99)] * 1e6
        print(f"publish, {pages} page(s): p50 {p50:.1f} µs, p99 {p99:.1f} µs per record "
              f"shown ({len(times)} records)")
    cpu, rss = asyncio.run(bench_idle(args.idle_seconds))
    print(f"idle, 1 page, a timer running: {cpu:.2f} % of one core, RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
