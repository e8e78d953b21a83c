#!/usr/bin/env python3
"""Load benchmark of the websocket bridge: N synthetic clients on loopback.

Three processes: a fast scripted upstream (tests/e2e/replyserver.py, replies at ~10x
real time), the bridge (`voicebot bridge`, or with --server websockets the same
conversations behind the `websockets` library's own asyncio server, for comparison),
and this one with the clients. Each client streams espeak speech in real time in
20 ms frames (silence between questions), plays the reply in real time and reports
`played`, asks again a second after each answer, for --seconds.

Reported:
- sessions held (connected at the start, still open at the end);
- frame arrival → processing in the bridge, p50/p99 (its GET /stats);
- first reply audio after the end of speech (client side, endpointing included);
- utterances answered / asked; CPU and RSS of the bridge per session;
- RSS of the bridge across --cycles connect/hello/bye cycles (after a warm-up).

    .venv/bin/python scripts/bench_bridge.py --clients 100 --seconds 30
    .venv/bin/python scripts/bench_bridge.py --clients 100 --server websockets
    .venv/bin/python scripts/bench_bridge.py --clients 10 --seconds 8 --cycles 100 --json

The goal on a 2-core machine: >= 100 sessions with p99 <= 20 ms, every utterance
answered, first reply audio <= 1 s after the end of speech at p99, RSS flat (+-5 %)
over 1,000 cycles. Timings on a shared machine are noisy: say so when quoting them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "bridge")]

from bridgeproc import start_bridge  # noqa: E402  (tests/bridge: the tests start it so too)

QUESTION = "what is two plus three"
STAGES = ("endpoint", "request_sent", "first_byte", "first_audio")
REPLY = "Two plus three is five."


# ------------------------------------------------------------------------ helper roles

def role_upstream() -> None:
    """A fast scripted chat-completions server; prints its base URL, runs until stdin
    closes, then prints its own timings (one JSON line): per request, from the handler's
    start to the body read and to the first chunk, and its event loop's lag."""
    from e2e.replyserver import ReplyServer
    from speech import synth
    from wsclient import pcm16

    class TimedReplyServer(ReplyServer):
        body_s: list[float] = []
        first_chunk_s: list[float] = []

        async def _chat(self, request: Any) -> Any:
            start = time.monotonic()
            response = await super()._chat(request)
            self.body_s.append(time.monotonic() - start)
            chunks = response.body_iterator

            async def timed() -> Any:
                first = True
                async for chunk in chunks:
                    if first:
                        self.first_chunk_s.append(time.monotonic() - start)
                        first = False
                    yield chunk

            response.body_iterator = timed()
            return response

    lag_s: list[float] = []
    started, cpu0 = time.monotonic(), time.process_time()

    async def lag_probe() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lag_s.append(time.monotonic() - before - 0.01)

    with TimedReplyServer(pcm16(synth(REPLY, 24_000)), REPLY, piece_bytes=4801,
                          piece_delay_s=0.01) as server:
        server.requests = _Discard()  # type: ignore[assignment]  # hours of load: keep none
        assert server._server is not None
        loop = server._server.servers[0].get_loop()
        asyncio.run_coroutine_threadsafe(lag_probe(), loop)
        print(server.base_url, flush=True)
        sys.stdin.read()
    cpu = (time.process_time() - cpu0) / (time.monotonic() - started)
    print(json.dumps({"upstream_cpu_percent": round(100 * cpu, 1),
                      **{f"upstream_{name}_p{q}_ms": _ms(percentile(values, q))
                         for name, values in (("body", server.body_s),
                                              ("first_chunk", server.first_chunk_s),
                                              ("loop_lag", lag_s))
                         for q in (50, 99)}}), flush=True)


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        return None


def role_websockets_bridge(base_url: str, max_sessions: int) -> None:
    """The bridge's conversations behind websockets' own asyncio server (no Starlette)."""
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Response

    from voicebot.bridge.hub import BridgeOptions, Hub
    from voicebot.bridge.link import serve_ws
    from voicebot.bridge.wire import MAX_MESSAGE_BYTES
    from voicebot.config import Settings
    from voicebot.pipeline import make_session
    from voicebot.session.client import new_http_pool

    class Channel:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        async def receive(self) -> bytes | str | None:
            try:
                message = await self.conn.recv()
            except ConnectionClosed:
                return None
            return message  # type: ignore[no-any-return]

        async def send(self, message: bytes | str) -> None:
            await self.conn.send(message)

        async def close(self, code: int, reason: str) -> None:
            try:
                await asyncio.wait_for(self.conn.close(code, reason), 3)
            except asyncio.TimeoutError:
                self.conn.transport.abort()

    async def main() -> None:
        pool = new_http_pool(max_connections=max_sessions)
        hub = Hub(Settings(model="bench"), base_url, pool,
                  BridgeOptions(max_sessions=max_sessions, idle_timeout_s=600),
                  make_session=make_session)

        def process_request(conn: Any, request: Any) -> Response | None:
            if request.path.startswith("/stats"):
                body = json.dumps({"sessions": len(hub.sessions),
                                   "frame_delay": hub.frame_delays.summary()}).encode()
                if "reset" in request.path:
                    hub.frame_delays.reset()
                return Response(200, "OK", Headers({"Content-Type": "application/json",
                                                    "Content-Length": str(len(body))}), body)
            return None

        async def handler(conn: Any) -> None:
            await serve_ws(Channel(conn), hub)

        async with serve(handler, "127.0.0.1", 0, process_request=process_request,
                         max_size=MAX_MESSAGE_BYTES, max_queue=16, write_limit=64 * 1024,
                         compression=None, ping_interval=20, ping_timeout=20) as server:
            port = list(server.sockets)[0].getsockname()[1]
            print(f"bridge: http://127.0.0.1:{port}/", file=sys.stderr, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await pool.aclose()

    asyncio.run(main())


# ------------------------------------------------------------------------ processes

@contextlib.contextmanager
def upstream(timings: dict[str, Any]) -> Iterator[str]:
    """The upstream's base URL; its own timings go into ``timings`` when it ends."""
    proc = subprocess.Popen([sys.executable, __file__, "--role", "upstream"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()
        with contextlib.suppress(ValueError):
            timings.update(json.loads(proc.stdout.read() or "{}"))
        proc.wait(10)


@contextlib.contextmanager
def bridge_process(server: str, base_url: str, max_sessions: int) -> Iterator[tuple[int, int]]:
    """(pid, port) of a bridge process."""
    if server == "uvicorn":
        cmd = [str(Path(sys.executable).with_name("voicebot")), "bridge", "--port", "0",
               "--base-url", base_url, "--model", "bench", "--idle-timeout", "600",
               "--max-sessions", str(max_sessions)]
    else:
        cmd = [sys.executable, __file__, "--role", "websockets-bridge", "--base-url", base_url,
               "--max-sessions", str(max_sessions)]
    env = {**os.environ, "VOICEBOT_API_KEY": "", "OPENAI_API_KEY": ""}
    proc, port = start_bridge(cmd, env)
    try:
        yield proc.pid, port
    finally:
        if server == "uvicorn":
            proc.terminate()
        elif proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def stats(port: int, reset: bool = False) -> dict[str, Any]:
    import httpx

    # A generous timeout: on a loaded machine the bridge may take seconds to answer.
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"http://127.0.0.1:{port}/stats" + ("?reset=1" if reset else ""))
        return r.json()  # type: ignore[no-any-return]


# ------------------------------------------------------------------------ clients

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


async def client(port: int, question: Any, end_at: float, result: dict[str, Any]) -> None:
    from websockets.asyncio.client import connect
    from wsclient import BridgeClient

    async with connect(f"ws://127.0.0.1:{port}/ws", compression=None, open_timeout=30,
                       max_size=1 << 20) as ws:
        c = BridgeClient(ws)
        await c.hello()
        result["held"] = True
        tasks = [asyncio.create_task(t()) for t in (c.receiver, c.microphone, c.reporter)]
        try:
            await asyncio.sleep(random.uniform(0, 2))
            while time.monotonic() < end_at:
                mark, first_audio = len(c.records), len(c.audio_at)
                c.say(question)
                result["asked"] += 1
                try:
                    done = await c.wait_for("turn.done", after=mark, timeout=30)
                except AssertionError:
                    result["unanswered"] += 1
                    continue
                result["answered"] += 1
                for stage in STAGES:
                    value = done["latency_ms"].get(stage)
                    if value is not None:
                        result["stages"].setdefault(stage, []).append(value)
                if c.speech_end_at is not None and len(c.audio_at) > first_audio:
                    result["first_audio_s"].append(c.audio_at[first_audio][0] - c.speech_end_at)
                await asyncio.sleep(1.0)
            result["open_at_end"] = c.close_code is None
            await c.send_json(type="bye")
            await c.wait_closed(timeout=30)
        finally:
            for task in tasks:
                task.cancel()
        result["late_frames"] = sum(1 for x in c.send_lateness_s if x > 0.02)
        result["frames"] = len(c.send_lateness_s)


async def cycles(port: int, n: int, concurrency: int = 10) -> None:
    from websockets.asyncio.client import connect

    async def one() -> None:
        async with connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
            await ws.send(json.dumps({"type": "hello", "sample_rate": 16000}))
            await ws.recv()
            await ws.send(json.dumps({"type": "bye"}))
            with contextlib.suppress(Exception):
                while True:
                    await ws.recv()

    queue = list(range(n))

    async def worker() -> None:
        while queue:
            queue.pop()
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(args: argparse.Namespace, pid: int, port: int) -> dict[str, Any]:
    from speech import synth

    question = synth(QUESTION, 16_000)
    report: dict[str, Any] = {"server": args.server, "clients": args.clients,
                              "seconds": args.seconds}
    if args.cycles:
        # Memory over connect/hello/bye cycles, on a fresh bridge (after a warm-up).
        await cycles(port, min(100, args.cycles))
        samples = [rss_mib(pid)]
        started = time.monotonic()
        for done in range(0, args.cycles, 100):
            await cycles(port, min(100, args.cycles - done))
            samples.append(rss_mib(pid))
        report.update({
            "cycles": args.cycles,
            "cycles_per_s": round(args.cycles / (time.monotonic() - started), 1),
            "rss_before_cycles_mib": round(samples[0], 1),
            "rss_after_cycles_mib": round(samples[-1], 1),
            "rss_max_change_percent": round(
                100 * max(abs(x - samples[0]) for x in samples) / samples[0], 2)})
    idle_rss = rss_mib(pid)
    results: list[dict[str, Any]] = [
        {"held": False, "asked": 0, "answered": 0, "unanswered": 0, "first_audio_s": [],
         "stages": {}, "open_at_end": False} for _ in range(args.clients)]
    end_at = time.monotonic() + args.seconds
    running = [asyncio.create_task(client(port, question, end_at, r)) for r in results]
    # Steady state: measure CPU and the frame delays once everyone is connected.
    await asyncio.sleep(min(3.0, args.seconds / 3))
    await stats(port, reset=True)
    cpu0, own0, t0 = cpu_seconds(pid), cpu_seconds(os.getpid()), time.monotonic()
    await asyncio.sleep(max(1.0, end_at - time.monotonic() - 1))
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    clients_cpu = (cpu_seconds(os.getpid()) - own0) / (time.monotonic() - t0)
    rss_loaded = rss_mib(pid)
    delays = (await stats(port))["frame_delay"]
    outcomes = await asyncio.gather(*running, return_exceptions=True)
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    first_audio = [x for r in results for x in r["first_audio_s"]]
    held = sum(1 for r in results if r["held"] and r["open_at_end"])
    report.update({
        "sessions_held": held,
        "frame_delay_p50_ms": delays["p50_ms"], "frame_delay_p99_ms": delays["p99_ms"],
        "frame_delay_max_ms": delays["max_ms"], "frames_measured": delays["n"],
        "first_audio_p50_ms": _ms(percentile(first_audio, 50)),
        "first_audio_p99_ms": _ms(percentile(first_audio, 99)),
        # Inside the bridge, after the end of speech as the VAD placed it (turn.done's
        # latency_ms): the VAD's decision, the request sent, the upstream's first byte,
        # its first audio.
        **{f"bridge_{stage}_p50_ms": percentile(
            [x for r in results for x in r["stages"].get(stage, [])], 50)
           for stage in STAGES},
        **{f"bridge_{stage}_p99_ms": percentile(
            [x for r in results for x in r["stages"].get(stage, [])], 99)
           for stage in STAGES},
        "asked": sum(r["asked"] for r in results),
        "answered": sum(r["answered"] for r in results),
        "unanswered": sum(r["unanswered"] for r in results),
        "client_late_frames": sum(r.get("late_frames", 0) for r in results),
        "bridge_cpu_percent": round(100 * cpu, 1),
        # The clients' process, on the same cores: what the harness itself costs.
        "clients_cpu_percent": round(100 * clients_cpu, 1),
        "cpu_percent_per_session": round(100 * cpu / max(1, held), 2),
        "rss_idle_mib": round(idle_rss, 1),
        "rss_per_session_kib": round((rss_loaded - idle_rss) * 1024 / max(1, held), 1),
        "failures": failures[:3],
    })
    return report


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cycles", type=int, default=1000,
                        help="connect/hello/bye cycles for the memory check (0: none)")
    parser.add_argument("--server", choices=["uvicorn", "websockets"], default="uvicorn")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--role", choices=["upstream", "websockets-bridge"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--max-sessions", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "upstream":
        role_upstream()
        return 0
    if args.role == "websockets-bridge":
        role_websockets_bridge(args.base_url, args.max_sessions)
        return 0
    upstream_timings: dict[str, Any] = {}
    with upstream(upstream_timings) as base_url, \
            bridge_process(args.server, base_url, args.clients + 20) as (pid, port):
        report = asyncio.run(measure(args, pid, port))
    report.update(upstream_timings)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:28} {value}")
    ok = report["sessions_held"] == args.clients and report["unanswered"] == 0 \
        and not report["failures"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
