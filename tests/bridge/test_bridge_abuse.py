"""Bad input gets a clear answer and harms nobody else: every abuse case of the
protocol, with a real websockets client against a real bridge on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import numpy as np
import pytest
from bridgehelp import running_bridge
from e2e.replyserver import ReplyServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsclient import BridgeClient, pcm16

from voicebot.bridge.hub import BridgeOptions
from voicebot.bridge.wire import MAX_MESSAGE_BYTES


def url(server: Any, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def closed_with(ws: Any, timeout: float = 10) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert ws.protocol.close_rcvd is not None, "closed without a close frame"
    return ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_token_missing_or_wrong_closes_1008_before_a_session(upstream: Any) -> None:
    async def main() -> None:
        options = BridgeOptions(token="s3cret-token")
        async with running_bridge(upstream.base_url, options) as server:
            before = len(upstream.requests)
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "hello", "sample_rate": 16000}))
                assert await closed_with(ws) == (1008, "token required")
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "hello", "sample_rate": 16000,
                                          "token": "guess"}))
                code, reason = await closed_with(ws)
                assert (code, reason) == (1008, "wrong token")
            assert not server.hub.sessions and len(upstream.requests) == before
            async with connect(url(server)) as ws:  # the right one works
                client = BridgeClient(ws)
                ready = await client.hello(token="s3cret-token")
                assert ready["output"] == {"format": "pcm16", "sample_rate": 24000}
    run(main())


def test_origin_not_allowed_is_http_403(upstream: Any) -> None:
    async def main() -> None:
        options = BridgeOptions(origins=("https://app.example",))
        async with running_bridge(upstream.base_url, options) as server:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url(server), origin="https://evil.example"):  # type: ignore[arg-type]
                    pass
            assert refused.value.response.status_code == 403
            own = f"http://127.0.0.1:{server.port}"
            for origin in (own, "https://app.example", None):  # own page, allowed, a program
                async with connect(url(server), origin=origin) as ws:  # type: ignore[arg-type]
                    await BridgeClient(ws).hello()
    run(main())


def test_frame_over_the_limit_closes_1009(upstream: Any) -> None:
    async def main() -> None:
        async with running_bridge(upstream.base_url) as server:
            async with connect(url(server)) as ws:
                await BridgeClient(ws).hello()
                await ws.send(b"\0" * (MAX_MESSAGE_BYTES + 2))
                code, _ = await closed_with(ws)
                assert code == 1009
    run(main())


def test_binary_before_hello_closes_1008(upstream: Any) -> None:
    async def main() -> None:
        async with running_bridge(upstream.base_url) as server:
            async with connect(url(server)) as ws:
                await ws.send(b"\0" * 640)
                assert await closed_with(ws) == (1008, "binary frame before hello")
            async with connect(url(server)) as ws:
                await ws.send(json.dumps({"type": "hello", "sample_rate": 4000}))
                code, reason = await closed_with(ws)
                assert code == 1008 and "sample_rate 4000" in reason
            assert not server.hub.sessions
    run(main())


def test_bad_json_and_unknown_types_are_error_events_and_the_session_goes_on(
        upstream: Any) -> None:
    async def main() -> None:
        async with running_bridge(upstream.base_url) as server:
            async with connect(url(server)) as ws:
                client = BridgeClient(ws, report=False)
                await client.hello()
                receiver = asyncio.create_task(client.receiver())
                await ws.send("{not json")
                await client.send_json(type="teleport")
                await client.send_json(type="played", samples="many")
                await ws.send(b"\0" * 3)  # half a sample, and far too short
                await ws.send(b"\0" * 20000)  # 625 ms at 16 kHz: over 200 ms
                await client.send_json(type="text", text="hello there")
                done = await client.wait_for("turn.done")
                errors = [r["message"] for r in client.records if r["type"] == "error"]
                assert errors[0].startswith("not JSON")
                assert errors[1] == 'unknown message type "teleport"'
                assert errors[2] == "played: samples must be an integer"
                assert "not whole 16-bit samples" in errors[3]
                assert "not 10-200 ms" in errors[4]
                assert done["text"] and len(client.audio) == done["audio_bytes"]
                await client.send_json(type="bye")
                assert await client.wait_closed() == 1000
                receiver.cancel()
    run(main())


def test_more_sessions_than_allowed_close_1013(upstream: Any) -> None:
    async def main() -> None:
        async with running_bridge(upstream.base_url, BridgeOptions(max_sessions=2)) as server:
            async with connect(url(server)) as a, connect(url(server)) as b:
                await BridgeClient(a).hello()
                await BridgeClient(b).hello()
                async with connect(url(server)) as c:
                    await c.send(json.dumps({"type": "hello", "sample_rate": 16000}))
                    code, reason = await closed_with(c)
                    assert code == 1013 and "too many sessions" in reason
                await a.send(json.dumps({"type": "bye"}))
                await closed_with(a)
                for _ in range(100):  # the slot comes back once the session has ended
                    if len(server.hub.sessions) < 2:
                        break
                    await asyncio.sleep(0.02)
                async with connect(url(server)) as d:
                    await BridgeClient(d).hello()
    run(main())


def test_idle_session_closes_1000_with_a_reason(upstream: Any) -> None:
    async def main() -> None:
        options = BridgeOptions(idle_timeout_s=0.5)
        async with running_bridge(upstream.base_url, options) as server:
            async with connect(url(server)) as ws:
                await BridgeClient(ws).hello()
                code, reason = await closed_with(ws)
                assert code == 1000 and reason.startswith("idle: nothing received for 0.5 s")
    run(main())


def test_client_that_stops_reading_is_closed_1008_while_others_keep_real_time() -> None:
    # 100 s of reply audio (4.8 MB, sent at ~10x real time): more than the kernel's
    # socket buffers (4 MiB at most here) can hide from the bridge.
    t = np.arange(100 * 24_000) / 24_000
    long_reply = pcm16((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    words = " ".join(["la"] * 300)

    async def main(upstream: ReplyServer) -> None:
        options = BridgeOptions(stall_limit_s=1.0, outbox_bytes=64 * 1024)
        async with running_bridge(upstream.base_url, options) as server:
            # The stalled client: a small receive buffer, and it never reads after ready.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            async with connect(url(server), sock=sock, max_queue=1) as stalled:
                await stalled.send(json.dumps({"type": "hello", "sample_rate": 16000}))
                await stalled.recv()  # ready
                await stalled.send(json.dumps({"type": "text", "text": "talk"}))
                async with connect(url(server)) as ws:
                    other = BridgeClient(ws)
                    await other.hello()
                    tasks = [asyncio.create_task(t()) for t in
                             (other.receiver, other.reporter, other.microphone)]
                    await other.send_json(type="text", text="hello")
                    await other.wait_for("state", state="speaking")
                    await asyncio.sleep(1.0)
                    await other.send_json(type="interrupt")
                    cut = await other.wait_for("interrupted")
                    # It heard about a second of its reply, placed by its played reports.
                    assert 0.5 < cut["played_ms"] / 1000 < 2.5
                    # Its frames were taken as they came while the other one stalled.
                    lateness = sorted(other.send_lateness_s)
                    assert lateness[len(lateness) // 2] < 0.02
                    for task in tasks:
                        task.cancel()
                deadline = time.monotonic() + 30
                while server.hub.sessions and time.monotonic() < deadline:
                    for session in server.hub.sessions.values():
                        assert session.outbox.queued_bytes <= options.outbox_bytes  # type: ignore[attr-defined]
                    await asyncio.sleep(0.1)
                assert not server.hub.sessions, "the stalled session was not closed"
                # Reading again, it finds the close frame behind the audio it did not read.
                code, reason = await closed_with(stalled, timeout=10)
                assert code == 1008 and reason.startswith("client does not read")

    with ReplyServer(long_reply, words, piece_bytes=4801, piece_delay_s=0.005) as upstream:
        run(main(upstream))
