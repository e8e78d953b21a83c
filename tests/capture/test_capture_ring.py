"""The capture ring and the microphone's capture thread, driven directly (no device, no thread).

Every block written carries its own position as sample values (block k is all
``k``, or sample i of a stream is ``i``), so what comes out is checked against
what went in, never against what the code computed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocs import peak_growth

from voicebot.capture.mic import MicrophoneSource
from voicebot.capture.ring import BlockRing
from voicebot.capture.worker import CaptureWorker

_OK = SimpleNamespace(input_overflow=False)  # a block's status, no flags set


class _NoStream:
    """What the capture thread's steps touch of a stream when no thread reads it."""

    read_available = 0

    def close(self, ignore_errors: bool = False) -> None:
        pass


def _read(worker: CaptureWorker, block: np.ndarray, status: Any = _OK) -> None:
    """The capture thread's step after one blocking read returned ``block``."""
    worker._handle(block, status.input_overflow)


def _stream(first: int, frames: int, channels: int) -> np.ndarray:
    """Samples ``first .. first+frames-1`` (each value is its position), all channels alike."""
    column = np.arange(first, first + frames, dtype=np.float32)
    return np.repeat(column[:, None], channels, axis=1)


# -- BlockRing ------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(slots=st.integers(1, 6), block_frames=st.integers(1, 8), channels=st.integers(1, 2),
       writes=st.lists(st.integers(0, 25), max_size=30))
def test_ring_keeps_exactly_the_last_slots_blocks(slots: int, block_frames: int, channels: int,
                                                  writes: list[int]) -> None:
    ring = BlockRing(slots, block_frames, channels)
    total = 0
    for frames in writes:
        end = ring.write(_stream(total, frames, channels), frames)
        total += frames
        assert end == ring.write_seq
    # Every written block is readable until `slots` newer ones replaced it.
    got = [ring.read(seq) for seq in range(ring.write_seq)]
    lapped = max(0, ring.write_seq - slots)
    assert got[:lapped] == [None] * lapped
    kept = [b for b in got[lapped:] if b is not None]
    assert len(kept) == ring.write_seq - lapped
    assert all(1 <= len(b) <= block_frames and b.shape[1] == channels for b in kept)
    # ... and the kept blocks are the newest samples, in order, with nothing missing.
    n = sum(len(b) for b in kept)
    if kept:
        assert np.array_equal(np.concatenate(kept), _stream(total - n, n, channels))
    assert ring.read(ring.write_seq) is None  # not written yet


def test_ring_read_is_a_copy_the_writer_cannot_change() -> None:
    ring = BlockRing(2, 4, 1)
    ring.write(_stream(0, 4, 1), 4)
    block = ring.read(0)
    ring.write(_stream(4, 4, 1), 4)
    ring.write(_stream(8, 4, 1), 4)  # slot 0 again
    assert ring.read(0) is None
    assert block is not None and np.array_equal(block, _stream(0, 4, 1))


def test_ring_never_hands_out_a_torn_block_while_a_thread_writes() -> None:
    """A writer thread laps a slow reader on a tiny ring; whatever the reader gets is whole.

    Blocks are large enough for numpy to release the GIL while copying, so writes
    and reads really overlap.
    """
    ring = BlockRing(3, 32_768, 2)
    posted: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    blocks = [np.full((32_768, 2), k, np.float32) for k in range(4)]

    def writer() -> None:
        for k in range(600):
            posted.put(ring.write(blocks[k % 4], 32_768) - 1)
        posted.put(None)

    thread = threading.Thread(target=writer)
    thread.start()
    delivered = lapped = 0
    try:
        while (seq := posted.get()) is not None:
            block = ring.read(seq)
            if block is None:
                lapped += 1
                continue
            delivered += 1
            assert block.min() == block.max() == seq % 4, seq
    finally:
        thread.join()  # also when failing: a writer left running would disturb later tests
    assert delivered > 0 and delivered + lapped == 600


# -- MicrophoneSource's capture thread (forward mode) and blocks(), without a device ----

class _PostRecorder:
    """Stands in for the event loop: keeps what the capture thread posts until deliver()."""

    def __init__(self) -> None:
        self.posted: list[tuple[Callable[..., object], tuple[Any, ...]]] = []

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        self.posted.append((fn, args))

    def deliver(self) -> None:
        """Run the posted calls, as the loop would."""
        posted, self.posted = self.posted, []
        for fn, args in posted:
            fn(*args)


def _fake_mic(max_queued_ms: int, channels: int = 2
              ) -> tuple[MicrophoneSource, CaptureWorker, _PostRecorder, int]:
    posts = _PostRecorder()
    mic = MicrophoneSource(None, posts, block_ms=20, max_queued_ms=max_queued_ms)  # type: ignore[arg-type]
    # What opening a stream does; the thread is never started, the test reads for it.
    worker = mic._worker = mic._prepare(48_000, channels, _NoStream(), posts)  # type: ignore[arg-type]
    return mic, worker, posts, worker.block_frames


def test_blocks_the_callback_lapped_are_dropped_never_delivered_with_new_data() -> None:
    async def run() -> tuple[list[np.ndarray], int, int, int]:
        mic, worker, posts, frames = _fake_mic(max_queued_ms=100)
        capacity, slots = mic._queue.maxsize, mic._ring_slots

        def capture(n: int) -> None:  # n blocks read; block k is all k
            for _ in range(n):
                k = worker._ring.write_seq
                _read(worker, np.full((frames, 2), k, np.float32))

        pulled = mic.blocks()
        capture(3)
        posts.deliver()      # blocks 0, 1, 2 queued
        capture(slots)       # the loop stalls meanwhile: their slots are written again
        first = asyncio.ensure_future(pulled.__anext__())
        for _ in range(100):  # let the consumer take 0, 1, 2 from the queue
            if mic.queued_blocks == 0 and mic.dropped_blocks == 3:
                break
            await asyncio.sleep(0)
        lapped_dropped = mic.dropped_blocks
        posts.deliver()      # the stalled deliveries arrive: more than the queue holds
        got = [await first]
        got += [await pulled.__anext__() for _ in range(capacity - 1)]
        mic.close()
        worker._finish(None)  # the capture thread's last step
        posts.deliver()
        with pytest.raises(StopAsyncIteration):
            await pulled.__anext__()
        return got, lapped_dropped, mic.dropped_blocks, capacity

    got, lapped_dropped, dropped, capacity = asyncio.run(run())
    assert lapped_dropped == 3
    total = len(got) + dropped
    # Delivered: the newest `capacity` blocks, each holding its own data.
    assert [int(b[0, 0]) for b in got] == list(range(total - capacity, total))
    for k, b in zip(range(total - capacity, total), got):
        assert b.shape == (960, 2) and b.min() == b.max() == k


def test_blocks_of_another_size_arrive_whole_and_in_order() -> None:
    """PortAudio should keep the fixed blocksize; if a host API does not, no sample is lost."""
    sizes = [960, 480, 2_000, 960, 1, 0, 961, 959]

    async def run() -> list[np.ndarray]:
        mic, worker, posts, frames = _fake_mic(max_queued_ms=2000)
        assert frames == 960
        first = 0
        for n in sizes:
            _read(worker, _stream(first, n, 2))
            first += n
        posts.deliver()
        mic.close()
        worker._finish(None)
        posts.deliver()
        return [b async for b in mic.blocks()]

    got = asyncio.run(run())
    assert all(1 <= len(b) <= 960 for b in got)
    assert np.array_equal(np.concatenate(got), _stream(0, sum(sizes), 2))


def test_overflow_flags_are_counted() -> None:
    mic, worker, posts, frames = _fake_mic(max_queued_ms=100)
    block = np.zeros((frames, 2), np.float32)
    _read(worker, block, SimpleNamespace(input_overflow=True))
    _read(worker, block)
    assert mic.overflows == 1 and len(posts.posted) == 2


class _CountingPoster:
    """A no-op loop: counts posts and keeps only the last, so it never grows."""

    def __init__(self) -> None:
        self.count = 0
        self.last: tuple[Any, ...] = ()

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        self.count += 1
        self.last = args


def test_forwarding_allocates_no_sample_buffers() -> None:
    """1000 forwarded blocks allocate nothing that grows with the block or the call count.

    The loop's ``call_soon_threadsafe`` is replaced by a counter: the real one
    allocates an asyncio Handle, unavoidably, and is not the capture thread's own
    work. What forwarding itself may still create are Python ints for the sequence
    numbers (tens of bytes, freed again); the bound is far below one block.
    """
    posts = _CountingPoster()
    mic = MicrophoneSource(None, posts, block_ms=20, max_queued_ms=2000)  # type: ignore[arg-type]
    worker = mic._prepare(48_000, 2, _NoStream(), posts)  # type: ignore[arg-type]
    frames = worker.block_frames
    indata = np.random.default_rng(0).uniform(-1, 1, (frames, 2)).astype(np.float32)
    handle = worker._handle

    def one_block() -> None:
        handle(indata, False)

    for _ in range(3 * mic._ring_slots):  # warm up: every slot written once, ints > 256
        one_block()
    peak, final = peak_growth(one_block)
    print(f"forwarding: peak {peak} B, retained {final} B over 1000 calls; "
          f"one block is {indata.nbytes} B")
    assert posts.count == 3 * mic._ring_slots + 3 * 1000
    assert peak < indata.nbytes // 16
    assert final <= 256

    # The measurement does see a per-block copy (what forwarding must not do).
    post = posts.call_soon_threadsafe

    def copying_block() -> None:
        post(print, indata.copy())

    copy_peak, _ = peak_growth(copying_block)
    assert copy_peak >= indata.nbytes
