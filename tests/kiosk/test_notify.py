"""systemd's notify protocol against a datagram socket standing in for NOTIFY_SOCKET:
READY/STATUS/WATCHDOG as systemd reads them, and a frozen event loop or a failing
health check sends no WATCHDOG=1."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.kiosk.notify import Notifier, Watchdog, watchdog_interval_s
from voicebot.turntaking.events import ErrorEvent, StateChanged


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def _messages(sock: socket.socket) -> list[dict[str, str]]:
    """Every datagram waiting on ``sock``, parsed as systemd does (KEY=VALUE lines)."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(4096)
            out.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2.0)
    return out


def test_ready_status_and_events(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    n.ready("starting")
    n.on_event(StateChanged(state="sleeping"))
    n.on_event(StateChanged(state="sleeping"))  # no change: nothing sent
    n.on_event(ErrorEvent(message="the server cannot be reached"))
    n.set_problem("the server cannot be reached")
    n.on_event(StateChanged(state="listening"))
    n.set_problem(None)
    n.stopping()
    n.close()
    assert _messages(sock) == [
        {"READY": "1", "STATUS": "starting"}, {"STATUS": "sleeping"},
        {"STATUS": "error: the server cannot be reached"},
        {"STATUS": "sleeping (the server cannot be reached)"},
        {"STATUS": "listening (the server cannot be reached)"}, {"STATUS": "listening"},
        {"STOPPING": "1", "STATUS": "stopping"}]


def test_abstract_namespace_socket() -> None:
    name = f"voicebot-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).send(WATCHDOG="1")
        assert sock.recv(100) == b"WATCHDOG=1\n"
    finally:
        sock.close()


def test_without_systemd_it_does_nothing(tmp_path: Path) -> None:
    n = Notifier({})
    assert not n.enabled and not n.send(READY="1")
    # A socket that went away: no exception, the service goes on.
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert not gone.send(READY="1")


def test_watchdog_interval_from_the_environment() -> None:
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"}, pid=7) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"}, pid=8) is None


class _Reader:
    """Reads the socket on a thread as datagrams come (its queue holds only a few)."""

    def __init__(self, sock: socket.socket) -> None:
        self.keys: list[str] = []
        self._sock = sock
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._sock.recv(4096)
            self.keys.append(data.decode().split("=", 1)[0])
            if data == b"END=1\n":
                return

    def join(self) -> None:
        self._thread.join(timeout=10)


def test_a_frozen_event_loop_sends_no_watchdog(notify_socket: tuple[socket.socket, str]) -> None:
    """The pings are a task on the loop: while the loop is blocked none is sent. The
    test marks the freeze with datagrams of its own on the same socket (one sender,
    so they arrive in order) and checks no WATCHDOG=1 lies between the marks."""
    sock, path = notify_socket
    reader = _Reader(sock)
    n = Notifier({"NOTIFY_SOCKET": path})
    dog = Watchdog(n, 0.02, lambda: None)

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(dog.run())
        await asyncio.sleep(0.2)
        n.send(FREEZE="1")
        time.sleep(0.5)  # the loop is frozen: 25 pings are due meanwhile
        n.send(THAW="1")
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    n.send(END="1")
    reader.join()
    seq = reader.keys
    freeze, thaw = seq.index("FREEZE"), seq.index("THAW")
    assert "WATCHDOG" in seq[:freeze], seq
    assert seq[freeze + 1:thaw] == [], seq
    assert "WATCHDOG" in seq[thaw + 1:], seq


def test_an_unhealthy_pipeline_sends_no_watchdog(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    problem: list[str | None] = [None]
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), 1.0, lambda: problem[0])
    dog.check()
    problem[0] = "no audio from the microphone for 3.0 s"
    dog.check()
    dog.check()
    problem[0] = None
    dog.check()
    assert _messages(sock) == [{"WATCHDOG": "1"}, {"WATCHDOG": "1"}]
    assert dog.pings == 2
