"""The websocket sink: bytes out exactly as pushed, in frames of whole samples; the
listener's position from the client's played reports (or real time without them);
drained once heard; cancel drops the unsent audio and leaves the count consistent."""

from __future__ import annotations

import asyncio
import time

import pytest

from voicebot.bridge.outbox import Outbox
from voicebot.bridge.sink import WebsocketSink
from voicebot.playback.sinks import Sink


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _never(message: bytes | str) -> None:
    raise AssertionError("the writer is not running in these tests")


def make(clock: Clock | None = None) -> tuple[WebsocketSink, Outbox]:
    outbox = Outbox(_never, max_bytes=1 << 20)
    sink = WebsocketSink(outbox, clock=clock or time.monotonic, frame_ms=100)
    return sink, outbox


def frames(outbox: Outbox) -> list[bytes]:
    return [m for m, _, audio in outbox._queue if audio]  # type: ignore[misc]


def test_it_is_a_sink() -> None:
    sink, _ = make()
    assert isinstance(sink, Sink) and sink.audible


@pytest.mark.parametrize("pieces", [[4801, 4801, 4800], [1] * 7 + [9593], [9601]])
def test_audio_goes_out_bit_for_bit_in_whole_sample_frames(pieces: list[int]) -> None:
    async def main() -> None:
        data = bytes(range(256)) * (sum(pieces) // 256 + 1)
        data = data[:sum(pieces)]
        sink, outbox = make()
        at = 0
        for n in pieces:
            sink.push_pcm16(data[at:at + n])
            at += n
        sink.end_of_stream()
        out = frames(outbox)
        assert b"".join(out) == data[:len(data) // 2 * 2]
        assert all(len(f) % 2 == 0 and 0 < len(f) <= 4800 for f in out)
    asyncio.run(main())


def test_position_from_played_reports_counted_over_the_connection() -> None:
    async def main() -> None:
        clock = Clock()
        sink, _ = make(clock)
        sink.on_played(0, clock.now)  # a reporting client: only its reports count
        sink.push_pcm16(b"\0" * 48000)  # reply 1: 24000 samples
        sink.end_of_stream()
        clock.now += 0.1
        assert sink.heard_samples(clock.now) == 0 and sink.first_sound_at is None
        clock.now += 0.5
        sink.on_played(12000, clock.now)
        assert sink.heard_samples(clock.now) == 12000 and sink.first_sound_at == clock.now
        sink.on_played(11000, clock.now)  # out of order: ignored
        assert sink.heard_samples(clock.now) == 12000
        sink.on_played(24000, clock.now)
        await sink.drained()
        sink.push_pcm16(b"\0" * 9600)  # reply 2 starts at connection sample 24000
        assert sink.heard_samples(clock.now) == 0 and sink.first_sound_at is None
        sink.on_played(99999, clock.now)  # more than was sent: clamped
        assert sink.heard_samples(clock.now) == 4800
    asyncio.run(main())


def test_without_reports_the_client_is_taken_to_play_in_real_time() -> None:
    async def main() -> None:
        clock = Clock()
        sink, _ = make(clock)
        sink.push_pcm16(b"\0" * 48000)
        assert sink.first_sound_at == clock.now
        clock.now += 0.25
        assert sink.heard_samples(clock.now) == 6000
        clock.now += 5
        assert sink.heard_samples(clock.now) == 24000
    asyncio.run(main())


def test_drained_waits_for_the_reports_then_for_real_time_if_they_stop() -> None:
    async def main() -> None:
        sink, _ = make()
        sink.push_pcm16(b"\0" * 4800)  # 100 ms
        sink.end_of_stream()
        waiter = asyncio.create_task(sink.drained())
        sink.on_played(1000, time.monotonic())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        sink.on_played(2400, time.monotonic())
        await asyncio.wait_for(waiter, 1)
        # A client that stops reporting is waited for report_timeout_s past the end.
        sink.position.report_timeout_s = 0.2
        sink.push_pcm16(b"\0" * 4800)
        sink.end_of_stream()
        started = time.monotonic()
        await asyncio.wait_for(sink.drained(), 2)
        assert time.monotonic() - started >= 0.2
    asyncio.run(main())


def test_cancel_drops_unsent_audio_and_keeps_the_count_in_step_with_the_client() -> None:
    async def main() -> None:
        clock = Clock()
        sink, outbox = make(clock)
        sink.push_pcm16(b"\1\0" * 24000)
        outbox._queue.popleft()  # type: ignore[attr-defined]  # one 100 ms frame went out
        outbox.put('{"type": "state"}')
        sink.cancel()
        assert [m for m, _, _ in outbox._queue] == ['{"type": "state"}']  # type: ignore[attr-defined]
        await asyncio.wait_for(sink.drained(), 1)
        # The client drops what it had not played: it has played all it received.
        sink.on_played(2400, clock.now)
        sink.push_pcm16(b"\0" * 4800)  # the next reply starts right after
        sink.on_played(2400 + 1200, clock.now)
        assert sink.heard_samples(clock.now) == 1200
    asyncio.run(main())
