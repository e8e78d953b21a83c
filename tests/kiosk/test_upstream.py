"""The server's reachability: announced once when it goes, probed with back-off on a
real TCP port, announced when it is back."""

from __future__ import annotations

import asyncio
import socket

from voicebot.kiosk.backoff import Change, UpstreamHealth, probe_delays_s
from voicebot.kiosk.upstream import UpstreamMonitor


def test_back_off_doubles_up_to_thirty_seconds() -> None:
    assert probe_delays_s(8) == [1, 2, 4, 8, 16, 30, 30, 30]


def test_outage_is_announced_once_and_recovery_once() -> None:
    h = UpstreamHealth()
    assert h.succeeded() is None and h.next_probe_at is None
    down = h.failed("connection refused", 100.0)
    assert down == Change(False, "the server cannot be reached (connection refused); retrying")
    assert h.failed("connection refused", 100.5) is None  # said once
    assert h.next_probe_at == 101.0
    waits = []
    now = 101.0
    for _ in range(6):
        assert h.probed(False, now) is None
        assert h.next_probe_at is not None
        waits.append(h.next_probe_at - now)
        now = h.next_probe_at
    assert waits == [2, 4, 8, 16, 30, 30]
    back = h.probed(True, now)
    assert back is not None and back.up and h.next_probe_at is None
    assert h.probed(True, now + 1) is None and h.succeeded() is None


def test_a_turn_that_goes_through_ends_the_outage() -> None:
    h = UpstreamHealth()
    h.failed("stalled", 0.0)
    assert h.succeeded() == Change(True, "the server can be reached again")
    assert h.up and h.next_probe_at is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_monitor_probes_a_real_port_until_it_listens() -> None:
    port = _free_port()
    changes: list[Change] = []

    async def main() -> None:
        monitor = UpstreamMonitor(f"http://127.0.0.1:{port}/v1", changes.append,
                                  connect_timeout_s=1.0)
        monitor.failed("connection refused")
        assert [c.up for c in changes] == [False]
        await asyncio.sleep(1.5)  # the first probe (after 1 s) finds nothing
        assert not monitor.health.up
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        try:
            for _ in range(60):  # the next probe comes 2 s after the first
                if monitor.health.up:
                    break
                await asyncio.sleep(0.1)
        finally:
            server.close()
            await server.wait_closed()
            await monitor.aclose()

    asyncio.run(main())
    assert [c.up for c in changes] == [False, True]
