"""The status screen's server, for real: uvicorn on 127.0.0.1, a websockets client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from screenfixtures import running_screen

from voicebot.errors import ConfigError
from voicebot.kiosk.screen import ScreenHub, ScreenServer, local_page
from voicebot.kiosk.screenstate import Mute, ScreenCommand, ScreenState, Talk
from voicebot.turntaking.events import (
    AudioReceived,
    ErrorEvent,
    Event,
    StateChanged,
    TimerSet,
    TranscriptDelta,
    UserSaid,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screen-browser"


def run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(main, 60))


def ws_url(server: ScreenServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(message, dict)
    return message


async def until(ws: ClientConnection, check: Callable[[dict[str, Any]], bool]
                ) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if check(message):
            return message


def test_snapshot_on_connect_then_records_as_json_prints_them() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            hub.publish(StateChanged("listening"))  # before anyone looks
            async with connect(ws_url(server)) as ws:
                first = await receive(ws)
                assert first["type"] == "screen" and first["state"] == "listening"
                sent: list[Event] = [StateChanged("thinking"),
                                     UserSaid(turn=1, text="wie spät ist es?"),
                                     AudioReceived(turn=1, bytes=4800, total_bytes=4800),
                                     TranscriptDelta(turn=1, text="Zehn Uhr.")]
                for record in sent:
                    hub.publish(record)
                got = [await receive(ws) for _ in range(4)]
            # The records in order (no audio records), then one snapshot: published in
            # one go, the snapshots after each record came to one, the latest.
            assert [m["type"] for m in got] == ["state", "user", "transcript.delta", "screen"]
            assert [m for m in got if m["type"] != "screen"] == [
                sent[0].to_dict(), sent[1].to_dict(), sent[3].to_dict()]
            assert got[-1]["state"] == "thinking"
            assert got[-1]["exchange"]["user"] == "wie spät ist es?"
            assert got[-1]["exchange"]["assistant"] == "Zehn Uhr."
    run(main())


def test_commands_reach_the_callback_and_nonsense_is_ignored() -> None:
    commands: list[ScreenCommand] = []

    async def main() -> None:
        async with running_screen(commands.append) as (hub, server):
            async with connect(ws_url(server)) as ws:
                await receive(ws)
                messages: list[str | bytes] = [
                    '{"type": "talk"}', "not json", '{"type": "reboot"}',
                    '{"type": "mute", "muted": true}', b'{"type": "talk"}']
                for message in messages:
                    await ws.send(message)
                # The page is still served: a record still arrives after the nonsense.
                hub.publish(StateChanged("listening"))
                await until(ws, lambda m: m["type"] == "state")
                while len(commands) < 3:
                    await asyncio.sleep(0.01)
    run(main())
    assert commands == [Talk(), Mute(True), Talk()]


def test_a_failing_callback_leaves_the_page_connected() -> None:
    calls: list[ScreenCommand] = []

    def broken(command: ScreenCommand) -> None:
        calls.append(command)
        raise RuntimeError("no microphone")

    async def main() -> None:
        async with running_screen(broken) as (hub, server):
            async with connect(ws_url(server)) as ws:
                await receive(ws)
                await ws.send('{"type": "talk"}')
                await ws.send('{"type": "talk"}')
                hub.publish(StateChanged("listening"))
                await until(ws, lambda m: m["type"] == "state")
                while len(calls) < 2:
                    await asyncio.sleep(0.01)
    run(main())


def test_the_screen_changes_by_itself_when_an_error_has_been_shown_long_enough() -> None:
    async def main() -> None:
        async with running_screen(state=ScreenState(error_hold_s=0.3)) as (hub, server):
            async with connect(ws_url(server)) as ws:
                await receive(ws)
                hub.publish(StateChanged("listening"))
                hub.publish(ErrorEvent(message="upstream answered 500", turn=1))
                shown = await until(ws, lambda m: m["type"] == "screen" and m["state"] == "error")
                assert shown["reason"] == "upstream answered 500"
                # No record follows: the hub sends the snapshot when the hold is over.
                back = await until(ws, lambda m: m["type"] == "screen")
                assert back["state"] == "listening" and back["reason"] is None
    run(main())


def test_a_page_that_stops_reading_costs_a_bounded_queue_and_holds_up_no_one() -> None:
    async def main() -> None:
        state = ScreenState(max_text_chars=4000)
        async with running_screen(max_queued_records=32, state=state) as (hub, server):
            # The stalled page: a small receive buffer, and it never reads.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            stalled = await connect(ws_url(server), sock=sock, max_queue=1)
            try:
                async with connect(ws_url(server)) as ws:
                    await receive(ws)
                    while hub.clients < 2:
                        await asyncio.sleep(0.01)
                    words = "la " * 1000
                    most = 0
                    for i in range(2000):  # 6 MB of records: more than socket buffers hide
                        hub.publish(TranscriptDelta(turn=1, text=f"{i}:{words}"))
                        most = max(most, hub.backlog)
                        await asyncio.sleep(0)  # let the writers run
                    hub.publish(StateChanged("speaking"))
                    # The reading page gets the latest screen though the other one stalls.
                    last = await until(ws, lambda m: m["type"] == "screen"
                                       and m["state"] == "speaking")
                    assert last["exchange"]["assistant"].endswith(f"1999:{words}")
                    assert most <= 32
                    assert hub.backlog == 32  # the stalled page's queue: full, no more
            finally:
                stalled.transport.abort()  # its close would wait for it to read 4 MB
        assert hub.clients == 0
    run(main())


def test_pages_from_elsewhere_are_refused() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connect(ws_url(server), origin="http://evil.example"):  # type: ignore[arg-type]
                    pass
            assert refused.value.response.status_code == 403
            own = f"http://127.0.0.1:{server.port}"
            async with connect(ws_url(server), origin=own) as ws:  # type: ignore[arg-type]
                assert (await receive(ws))["type"] == "screen"
    run(main())


@pytest.mark.parametrize(("host", "origin", "ok"), [
    ("127.0.0.1:8766", None, True),
    ("127.0.0.1:8766", "http://127.0.0.1:8766", True),
    ("localhost:8766", "http://localhost:8766", True),
    ("[::1]:8766", "http://[::1]:8766", True),
    ("127.0.0.1:8766", "http://localhost:8766", False),
    ("127.0.0.1:8766", "http://evil.example", False),
    ("evil.example:8766", "http://evil.example:8766", False),  # DNS rebinding
    ("192.168.1.20:8766", None, False),
    (None, None, False),
])
def test_local_page(host: str | None, origin: str | None, ok: bool) -> None:
    assert local_page(host, origin) is ok


def test_the_page_its_files_and_health() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            base = f"http://127.0.0.1:{server.port}"

            def get(path: str) -> tuple[int, str, bytes]:
                with urllib.request.urlopen(base + path, timeout=10) as r:
                    return r.status, r.headers["content-type"], r.read()

            status, kind, body = await asyncio.to_thread(get, "/")
            assert status == 200 and kind.startswith("text/html")
            assert b'id="talk"' in body and b"/static/screen.js" in body
            for path in ("/static/screen.js", "/static/screen.css"):
                status, _, body = await asyncio.to_thread(get, path)
                assert status == 200 and body
            status, _, body = await asyncio.to_thread(get, "/healthz")
            assert json.loads(body) == {"status": "ok", "clients": 0}
    run(main())


def test_stopping_closes_the_pages() -> None:
    async def main() -> None:
        hub = ScreenHub(lambda c: None)
        server = ScreenServer(hub, port=0)
        await server.start()
        async with connect(ws_url(server)) as ws:
            await receive(ws)
            await server.stop()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        assert hub.clients == 0
    run(main())


def test_refuses_other_interfaces_and_a_busy_port() -> None:
    hub = ScreenHub(lambda c: None)
    with pytest.raises(ConfigError, match="this machine only"):
        ScreenServer(hub, host="0.0.0.0")
    with pytest.raises(ConfigError, match="not a TCP port"):
        ScreenServer(hub, port=70000)

    async def main() -> None:
        async with running_screen() as (_, first):
            second = ScreenServer(hub, port=first.port)
            with pytest.raises(ConfigError, match="cannot listen"):
                await second.start()
    run(main())


def test_a_timer_set_is_on_the_screen_with_its_seconds_left() -> None:
    async def main() -> None:
        async with running_screen() as (hub, server):
            hub.publish(TimerSet(id="1", label="pasta", duration_s=600.0))
            async with connect(ws_url(server)) as ws:
                [timer] = (await receive(ws))["timers"]
                assert timer["id"] == "1" and timer["label"] == "pasta"
                assert 590 < timer["remaining_s"] <= 600 and not timer["done"]
    run(main())


def test_the_autostart_script_waits_for_the_screen_then_opens_it(tmp_path: Path) -> None:
    # A stand-in for Chromium on PATH records how it was started.
    fake = tmp_path / "bin" / "chromium"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n')
    fake.chmod(0o755)
    (fake.parent / "chromium-browser").symlink_to(fake)  # the name on Raspberry Pi OS
    env = {**os.environ, "PATH": f"{fake.parent}:/usr/bin:/bin"}

    async def main() -> None:
        with socket.socket() as probe:  # a free port, nothing listening on it yet
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        proc = await asyncio.create_subprocess_exec(str(SCRIPT), url, env=env)
        await asyncio.sleep(1.5)
        assert proc.returncode is None  # still waiting for the screen
        hub = ScreenHub(lambda c: None)
        async with ScreenServer(hub, port=port):
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        args = (fake.parent / "args").read_text().split()
        assert "--kiosk" in args and args[-1] == url

    run(main())
