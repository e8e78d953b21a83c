"""The jitter buffer's storage: a sample ring between two threads, and its fades. Pure.

No I/O, no clock (numpy and a lock only). :class:`SampleRing` is the base of
:class:`~.jitter.JitterBuffer`, which decides what plays when (prebuffer, underrun,
end of stream, cancel); this module only keeps the samples and moves them.

The ring is single-producer/single-consumer with absolute (never wrapping) read and
write positions. The *producer* (the asyncio loop) copies samples into the free part
of the ring *outside* the lock (:meth:`SampleRing._store`) — the consumer never reads
past the published write position — and then takes the small ``threading.Lock`` only
to publish the new write position. Growing the ring allocates and copies on the
producer thread too, never on the *consumer* (the PortAudio callback), which holds the
lock while it reads one block and allocates nothing: :func:`copy_positions` and
:class:`FadeRamp` write into arrays that exist already.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["FadeRamp", "SampleRing", "copy_positions"]


class SampleRing:
    """``capacity_frames`` of float32 mono samples between a producer and a consumer
    thread (see the module docstring); it grows as pushes need. Subclasses publish
    ``_write_pos`` and read from ``_read_pos`` under ``_lock``."""

    def __init__(self, capacity_frames: int) -> None:
        self._lock = threading.Lock()
        self._ring = np.zeros(max(1, capacity_frames), np.float32)
        # Written by the producer, published under the lock.
        self._write_pos = 0
        # Advanced by the consumer under the lock (the producer resets it, also under it).
        self._read_pos = 0

    def _store(self, samples: np.ndarray, write: int) -> None:
        """Copy ``samples`` into the ring from the write position ``write`` on, growing
        it when they do not fit; the caller publishes the new write position. Producer
        thread, outside the lock."""
        n = len(samples)
        # The consumer only advances the read position, so this snapshot can only
        # under-estimate the free space: safe without the lock.
        buffered = write - self._read_pos
        ring = self._ring
        if buffered + n > len(ring):
            ring = self._grow(buffered + n, write)
        cap = len(ring)
        start = write % cap
        first = min(n, cap - start)
        ring[start:start + first] = samples[:first]
        if first < n:
            ring[:n - first] = samples[first:]

    def _grow(self, needed: int, write: int) -> np.ndarray:
        """Copy the unread samples into a bigger ring and publish it. Producer thread."""
        old = self._ring
        new = np.zeros(max(2 * len(old), needed), np.float32)
        # Copy from a read-position snapshot: the consumer may go on reading the old
        # ring meanwhile, but only at positions >= this one, which both rings hold.
        read = self._read_pos
        copy_positions(old, read, write - read, new, read)
        with self._lock:
            self._ring = new
        return new

    @property
    def buffered_frames(self) -> int:
        return self._write_pos - self._read_pos

    @property
    def capacity_frames(self) -> int:
        return len(self._ring)


class FadeRamp:
    """Linear fades over up to ``longest`` frames, applied in place without allocating
    (the gains are computed into a preallocated buffer). Consumer thread."""

    def __init__(self, longest: int) -> None:
        self._ramp_index = np.arange(longest, dtype=np.float32)
        self._gain = np.zeros(longest, np.float32)

    def apply(self, seg: np.ndarray, start: int, total: int, *, rising: bool) -> None:
        """Multiply ``seg`` in place by fade gains ``start .. start+len(seg)`` of a
        linear ramp of ``total`` steps, all strictly inside (0, 1)."""
        m = len(seg)
        gain = self._gain[:m]
        if rising:   # gain_j = (j + 1) / (total + 1)
            np.add(self._ramp_index[:m], start + 1, out=gain)
        else:        # gain_j = (total - j) / (total + 1)
            np.subtract(total - start, self._ramp_index[:m], out=gain)
        np.multiply(gain, 1.0 / (total + 1), out=gain)
        np.multiply(seg, gain, out=seg)


def copy_positions(src_ring: np.ndarray, src_pos: int, count: int, dest: np.ndarray,
                   dest_pos: int) -> None:
    """Copy ``count`` samples from absolute position ``src_pos`` of ring ``src_ring``
    to absolute position ``dest_pos`` of ``dest`` (itself a ring if longer than
    ``count`` and ``dest_pos`` wraps; a plain array when ``dest_pos`` is 0 and it fits)."""
    if count <= 0:
        return
    src_cap = len(src_ring)
    dest_cap = len(dest)
    done = 0
    while done < count:
        s = (src_pos + done) % src_cap
        d = (dest_pos + done) % dest_cap
        m = min(count - done, src_cap - s, dest_cap - d)
        dest[d:d + m] = src_ring[s:s + m]
        done += m
