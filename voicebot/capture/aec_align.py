"""Where the echo of the played reference sits in the microphone signal: pure parts.

No I/O, no clock, no threads: times are passed in (seconds on one monotonic clock,
e.g. PortAudio's stream time or ``time.monotonic``), and the same calls always give
the same answers. Imports numpy only.

- :class:`ReferenceTimeline`: the reference (PCM16 16 kHz) placed on the DAC clock:
  ``push(samples, dac_time)`` where ``dac_time`` is when the first sample reached
  the DAC; :meth:`~ReferenceTimeline.read` gives what was playing at any time
  (zeros where nothing played). Timestamps jitter by a few samples from one block
  to the next; a push within ``tolerance_s`` of where the previous one ended is
  taken as contiguous, so jitter never tears the reference apart.
- :class:`CaptureClock`: the same for the microphone: the slot (16 kHz sample on the
  shared clock) of each captured block's first sample, from its ADC time.
- :class:`DelayEstimator`: the delay the timestamps do not see (a sound server's
  loopback, a client's playout buffer in the bridge, the path through the air),
  by GCC-PHAT on both signals decimated to 4 kHz.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["ReferenceTimeline", "CaptureClock", "DelayEstimator"]


class ReferenceTimeline:
    """A ring of reference samples indexed by their DAC slot (``round(time * rate)``).

    Holds the last ``capacity_s`` of reference. Slots that were never written, were
    overwritten by newer audio, or lie beyond the newest push read as zeros: the
    speaker played nothing there as far as anyone told us.
    """

    def __init__(self, sample_rate: int = 16_000, *, capacity_s: float = 4.0,
                 tolerance_s: float = 0.004, max_spans: int = 16) -> None:
        self.sample_rate = sample_rate
        self.capacity = int(capacity_s * sample_rate)
        self.tolerance = int(round(tolerance_s * sample_rate))
        self._ring = np.zeros(self.capacity, np.int16)
        self._write_end: int | None = None  # slot after the newest sample
        self._valid_start = 0  # oldest slot still held
        # Runs of pushed reference as (first slot, end slot), oldest first.
        self._spans: deque[tuple[int, int]] = deque(maxlen=max_spans)

    @property
    def write_end(self) -> int | None:
        """The slot after the newest reference sample (None: nothing pushed yet)."""
        return self._write_end

    def slot(self, t: float) -> int:
        return int(round(t * self.sample_rate))

    def push(self, samples: np.ndarray, dac_time: float) -> int:
        """Place int16 ``samples`` whose first one reached the DAC at ``dac_time``.

        Returns the slot they were written at (the contiguous one when the time is
        within tolerance of the previous push's end).
        """
        n = len(samples)
        start = self.slot(dac_time)
        end = self._write_end
        if end is not None and abs(start - end) <= self.tolerance:
            start = end  # the same run: timestamp jitter, not a gap
        if n == 0:
            return start
        self._clear_gap(start)
        self._write(start, np.asarray(samples, np.int16))
        self._write_end = start + n if end is None else max(end, start + n)
        if end is not None and start == end and self._spans and self._spans[-1][1] == end:
            first, _ = self._spans[-1]
            self._spans[-1] = (first, start + n)
        else:
            self._spans.append((start, start + n))
        self._valid_start = max(self._valid_start, self._write_end - self.capacity)
        return start

    def _clear_gap(self, start: int) -> None:
        end = self._write_end
        if end is None or start <= end:
            if end is None:
                self._valid_start = start
            return
        if start - end >= self.capacity:
            self._ring[:] = 0
            self._valid_start = start
            return
        self._write(end, None, start - end)  # silence played between the runs

    def _write(self, start: int, samples: np.ndarray | None, count: int = 0) -> None:
        n = count if samples is None else len(samples)
        if n > self.capacity:  # only the newest capacity samples can be held
            if samples is not None:
                samples = samples[n - self.capacity:]
            start += n - self.capacity
            n = self.capacity
        i = start % self.capacity
        first = min(n, self.capacity - i)
        if samples is None:
            self._ring[i:i + first] = 0
            self._ring[: n - first] = 0
        else:
            self._ring[i:i + first] = samples[:first]
            self._ring[: n - first] = samples[first:]

    def read(self, start: int, out: np.ndarray) -> None:
        """Fill int16 ``out`` with the reference at slots ``[start, start + len(out))``."""
        n = len(out)
        out[:] = 0
        end = self._write_end
        if end is None:
            return
        lo, hi = max(start, self._valid_start), min(start + n, end)
        if lo >= hi:
            return
        i = lo % self.capacity
        count = hi - lo
        first = min(count, self.capacity - i)
        out[lo - start: lo - start + first] = self._ring[i:i + first]
        out[lo - start + first: hi - start] = self._ring[: count - first]

    def overlaps(self, start: int, end: int) -> bool:
        """True if any pushed reference lies in slots ``[start, end)``."""
        return any(s < end and start < e for s, e in self._spans)

    def last_end(self) -> int | None:
        """End slot of the newest run of reference."""
        return self._spans[-1][1] if self._spans else None


class CaptureClock:
    """Slots of captured blocks: contiguous while the ADC times agree within tolerance.

    ``place(adc_time, n)`` returns the slot of the block's first sample. Blocks
    follow each other sample by sample; only when a block's ADC time strays more
    than ``tolerance_s`` from that (a dropped block, a restarted stream, clock
    drift piling up) does the clock re-anchor on the new time.
    """

    def __init__(self, sample_rate: int = 16_000, *, tolerance_s: float = 0.004) -> None:
        self.sample_rate = sample_rate
        self.tolerance = int(round(tolerance_s * sample_rate))
        self._next: int | None = None
        self.resyncs = 0
        """Times the clock re-anchored on a block's ADC time (the first block excluded)."""

    def place(self, adc_time: float, n: int) -> int:
        slot = int(round(adc_time * self.sample_rate))
        if self._next is None:
            pass
        elif abs(slot - self._next) <= self.tolerance:
            slot = self._next
        else:
            self.resyncs += 1
        self._next = slot + n
        return slot


class DelayEstimator:
    """The echo's bulk delay behind the timestamp-aligned reference, in samples.

    Feed :meth:`push` with the microphone and the reference read at the same slots
    (delay 0), in any block sizes, only while reference plays. Every ``window_s``
    of such audio it cross-correlates the two, whitened (GCC-PHAT, robust to the
    colour of speech), over lags ``0 .. max_delay_s``, at a quarter of the rate. An
    estimate is taken when its peak stands out (``min_peak_ratio`` above the best
    peak away from it) and the reference had energy; :attr:`delay` then changes
    only when two windows in a row agree on a new value within 1 ms. Once a window
    confirms the accepted delay, the next ``rest_windows`` windows are skipped
    (the delay of a room rarely moves; this saves three quarters of the work),
    though the newest window of audio is still kept.

    :meth:`wake` is for when the echo was lost (the delay moved under the
    canceller): for ``urgent_s`` of audio the estimator estimates every quarter
    window on the audio it kept, and takes the first confident new delay at once.
    """

    def __init__(self, sample_rate: int = 16_000, *, max_delay_s: float = 0.5,
                 window_s: float = 0.5, min_peak_ratio: float = 2.0,
                 decimation: int = 4, min_reference_dbfs: float = -50.0,
                 rest_windows: int = 3, urgent_s: float = 2.0) -> None:
        self.sample_rate = sample_rate
        self.decimation = decimation
        self.max_lag = int(max_delay_s * sample_rate) // decimation
        self.window = int(window_s * sample_rate) // decimation
        self.min_peak_ratio = min_peak_ratio
        self.min_ref_power = (10 ** (min_reference_dbfs / 20) * 32768) ** 2
        size = 1
        while size < self.window + self.max_lag:
            size *= 2
        self._fft_size = 2 * size
        self.rest_samples = rest_windows * self.window * decimation
        self._resting = 0
        self.urgent_samples = int(urgent_s * sample_rate)
        self._urgent = 0  # samples left in which a confident new delay is taken at once
        self.wakes = 0
        """Times :meth:`wake` cut a rest or started an urgent search."""
        self.reset_history()
        self.delay: int | None = None
        """Accepted delay in samples at ``sample_rate`` (None until the first)."""
        self.estimates = 0
        """Windows that produced a confident estimate."""
        self._candidate: int | None = None

    def reset_history(self) -> None:
        """Forget buffered audio (the reference stopped: the next window starts fresh).

        The decimated history starts with ``max_lag`` zeros: before the reference
        started the speaker was silent, so the first window needs no older audio.
        """
        self._mic = np.zeros(self.max_lag, np.float32)
        self._ref = np.zeros(self.max_lag, np.float32)
        self._rest_mic = self._rest_ref = np.zeros(0, np.float32)
        # Resting: the raw blocks, decimated only when the rest ends (or a wake ends
        # it). It starts at a decimation group's first sample and is trimmed from the
        # front by whole groups, so it decimates to what block-by-block decimation
        # would have kept: the same estimates, for a quarter of the work per block.
        self._held: list[tuple[np.ndarray, np.ndarray]] = []
        self._held_len = 0

    @property
    def urgent(self) -> bool:
        """Whether a search started by :meth:`wake` is under way."""
        return self._urgent > 0

    def wake(self) -> None:
        """The echo was lost: measure again now, from the audio kept, and take the
        first confident new delay at once (for ``urgent_s`` of audio)."""
        if self._urgent <= 0:
            self.wakes += 1
        self._resting = 0
        self._urgent = self.urgent_samples

    def push(self, mic: np.ndarray, reference: np.ndarray) -> int | None:
        """Add equally long int16 blocks; returns the accepted delay when it changes."""
        self._urgent = max(0, self._urgent - len(mic))
        d = self.decimation
        need = self.window + self.max_lag
        if self._resting > 0:
            # Resting: keep the newest window (a wake estimates on it at once).
            self._resting -= len(mic)
            self._hold(mic, reference, need * d)
            return None
        if self._held:
            self._decimate(*self._take_held())
            if len(self._mic) > need:
                self._mic, self._ref = self._mic[-need:], self._ref[-need:]
        self._decimate(mic, reference)
        changed = None
        while len(self._mic) >= need:
            urgent = self._urgent > 0
            # An urgent search slides by a quarter window: the window holds more of
            # the new delay's audio each time.
            hop = self.window // 4 if urgent else self.window
            # The newest audio (when more than a window is buffered after a rest).
            start = len(self._mic) - need if urgent else 0
            lag = self._estimate(self._mic[start + self.max_lag:start + need],
                                 self._ref[start:start + need])
            drop = start + hop
            self._mic, self._ref = self._mic[drop:], self._ref[drop:]
            if lag is None:
                continue
            self.estimates += 1
            delay = lag * d
            tol = self.sample_rate // 1000
            if urgent:
                if self.delay is not None and abs(delay - self.delay) <= tol:
                    continue  # still the old delay: the window holds too little new audio
                self._candidate, self._urgent = delay, 0
                self.delay, changed = delay, delay
                continue
            if self.delay is None and self._candidate is None:
                self._candidate = delay
                # The first estimate is taken at once: until then the echo goes
                # uncancelled, and a wrong one is replaced by the next agreeing pair.
                self.delay, changed = delay, delay
            elif self.delay is not None and abs(delay - self.delay) <= tol:
                self._candidate = delay
                self._resting = self.rest_samples
                break
            elif self._candidate is not None and abs(delay - self._candidate) <= tol:
                self.delay, changed = delay, delay
            else:
                self._candidate = delay
        return changed

    def _decimate(self, mic: np.ndarray, reference: np.ndarray) -> None:
        """Append blocks to the decimated histories (the remainder carried over)."""
        d = self.decimation
        m = np.concatenate([self._rest_mic, mic.astype(np.float32)])
        r = np.concatenate([self._rest_ref, reference.astype(np.float32)])
        whole = len(m) // d * d
        self._rest_mic, self._rest_ref = m[whole:], r[whole:]
        self._mic = np.concatenate([self._mic, m[:whole].reshape(-1, d).mean(1)])
        self._ref = np.concatenate([self._ref, r[:whole].reshape(-1, d).mean(1)])

    def _hold(self, mic: np.ndarray, reference: np.ndarray, keep: int) -> None:
        """Resting: keep raw blocks, at least the newest ``keep`` samples' worth."""
        held = self._held
        if not held and len(self._rest_mic):
            # The carried remainder goes first: the held audio starts a group.
            held.append((self._rest_mic, self._rest_ref))
            self._held_len = len(self._rest_mic)
            self._rest_mic = self._rest_ref = np.zeros(0, np.float32)
        held.append((mic, reference))
        self._held_len += len(mic)
        excess = self._held_len - keep
        drop = excess - excess % self.decimation
        while drop > 0:
            first_mic, first_ref = held[0]
            if len(first_mic) <= drop:
                held.pop(0)
                cut = len(first_mic)
            else:
                held[0] = first_mic[drop:], first_ref[drop:]
                cut = drop
            drop -= cut
            self._held_len -= cut

    def _take_held(self) -> tuple[np.ndarray, np.ndarray]:
        held, self._held, self._held_len = self._held, [], 0
        return (np.concatenate([m for m, _ in held]).astype(np.float32),
                np.concatenate([r for _, r in held]).astype(np.float32))

    def _estimate(self, mic: np.ndarray, ref: np.ndarray) -> int | None:
        """Lag (decimated samples) of ``mic`` (window) behind ``ref`` (max_lag + window)."""
        if float(np.mean(ref[self.max_lag:] ** 2)) < self.min_ref_power:
            return None
        size = self._fft_size
        spec = np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size))
        spec /= np.abs(spec) + 1e-9
        corr = np.fft.irfft(spec, size)
        # corr[k] = sum ref[n + k] * mic[n]; mic[n] is ref[max_lag + n - L], so a lag L
        # peaks at k = max_lag - L: reversed, index L.
        lags = corr[: self.max_lag + 1][::-1]
        best = int(np.argmax(lags))
        peak = float(lags[best])
        away = np.concatenate([lags[: max(0, best - 2)], lags[best + 3:]])
        second = float(np.max(away)) if len(away) else 0.0
        if peak <= 0 or peak < self.min_peak_ratio * max(second, 1e-12):
            return None
        return best
