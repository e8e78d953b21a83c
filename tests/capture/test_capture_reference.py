"""The reference tap: the speaker's ring, its 16 kHz reader, steady capture times, and
the capture hook that runs an echo stage before the detector."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.audio import float_to_pcm16
from voicebot.capture.echo import EchoStage, SpeakerReference
from voicebot.capture.reference import ReferenceRing, SteadyCaptureTimes
from voicebot.capture.vad import CaptureConverter, UtteranceDetector
from voicebot.capture.worker import DetectorFeed

RATE = 48_000


def _signal(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, n).astype(np.float32)


def _record_blocks(ring: ReferenceRing, x: np.ndarray, sizes: list[int], t0: float,
                   jitter: list[float] | None = None) -> None:
    pos = 0
    for k, n in enumerate(sizes):
        j = jitter[k % len(jitter)] if jitter else 0.0
        ring.record(x[pos:pos + n], t0 + pos / ring.sample_rate + j)
        pos += n


# ----------------------------------------------------------------------- ReferenceRing

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 2000), min_size=1, max_size=40),
       st.lists(st.integers(1, 6), min_size=1, max_size=10))
def test_contiguous_blocks_read_back_as_one_run_however_cut_and_drained(
        sizes: list[int], drains: list[int]) -> None:
    ring = ReferenceRing(RATE, capacity_frames=RATE)
    x = _signal(sum(sizes))
    got: list[np.ndarray] = []
    runs_dac: list[float] = []
    pos, k, d = 0, 0, 0
    while k < len(sizes):
        for n in sizes[k:k + drains[d % len(drains)]]:
            ring.record(x[pos:pos + n], 10.0 + pos / RATE)
            pos += n
            k += 1
        d += 1
        for run in ring.read_new():
            if got:
                assert run.continues
            runs_dac.append(run.dac_time)
            got.append(run.samples)
    np.testing.assert_array_equal(np.concatenate(got), x)
    assert runs_dac[0] == 10.0
    assert ring.lost_blocks == 0


def test_the_ring_wraps_at_every_offset() -> None:
    for cap in (7, 8, 9, 100):
        ring = ReferenceRing(RATE, capacity_frames=cap)
        x = _signal(1000)
        out = []
        for pos in range(0, 1000, 5):
            ring.record(x[pos:pos + 5], pos / RATE)
            out += [r.samples for r in ring.read_new()]
        np.testing.assert_array_equal(np.concatenate(out), x)


def test_timestamp_jitter_within_tolerance_keeps_one_run_a_gap_starts_another() -> None:
    ring = ReferenceRing(RATE)
    x = _signal(4800)
    _record_blocks(ring, x, [480] * 10, 5.0, jitter=[0.0, 0.004, -0.003, 0.008])
    ring.record(x[:480], 5.0 + 0.1 + 0.5)  # half a second of nothing played
    runs = ring.read_new()
    assert [len(r.samples) for r in runs] == [4800, 480]
    assert runs[0].dac_time == 5.0 and not runs[0].continues
    assert runs[1].dac_time == pytest.approx(5.6) and not runs[1].continues


def test_a_reader_lapped_by_the_writer_drops_what_it_lost_and_says_so() -> None:
    ring = ReferenceRing(RATE, capacity_frames=1000, rows=16)
    x = _signal(3000)
    _record_blocks(ring, x, [100] * 30, 0.0)
    runs = ring.read_new()
    got = np.concatenate([r.samples for r in runs])
    assert ring.lost_blocks > 0
    assert len(got) <= 1000
    np.testing.assert_array_equal(got, x[-len(got):])  # the newest, intact
    assert ring.read_new() == []


def test_record_allocates_nothing_per_block() -> None:
    import tracemalloc

    ring = ReferenceRing(RATE)
    block = np.zeros((480, 2), np.float32)[:, 0]  # a strided view, as the callback has
    ring.record(block, 0.0)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for k in range(1, 200):
        ring.record(block, k * 0.01)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 4096, grown  # interpreter noise, not a buffer per block (480 floats)


@pytest.mark.parametrize("drain_after", range(0, 11))
def test_a_cut_silences_what_was_recorded_beyond_it_however_drained(drain_after: int) -> None:
    """An aborted stream never played what it had queued: after ``cut(t)`` the reader
    hands out, in order, the runs as recorded, then silence from ``t`` to the end of
    what was recorded; a later block (a new stream) starts a run of its own."""
    ring = ReferenceRing(RATE)
    x = _signal(4800)
    runs = []
    for k in range(10):
        if k == drain_after:
            runs += ring.read_new()
        ring.record(x[480 * k:480 * (k + 1)], 7.0 + 480 * k / RATE)
    ring.cut(7.0 + 0.06)  # 2880 of the 4800 samples had reached the DAC
    ring.record(x[:480], 9.0)
    runs += ring.read_new()
    played = [r for r in runs if not r.cut]
    cuts = [r for r in runs if r.cut]
    np.testing.assert_array_equal(np.concatenate([r.samples for r in played[:-1]]), x)
    assert len(cuts) == 1 and runs[-2] is cuts[0]
    assert cuts[0].dac_time == 7.06 and not cuts[0].continues
    assert len(cuts[0].samples) == 4800 - 2880 and not cuts[0].samples.any()
    assert played[-1].dac_time == 9.0 and not played[-1].continues


def test_a_cut_after_everything_played_or_before_anything_was_recorded_is_nothing() -> None:
    ring = ReferenceRing(RATE)
    ring.cut(1.0)
    assert ring.read_new() == []
    ring.record(_signal(480), 2.0)
    ring.cut(2.0 + 480 / RATE + 0.001)
    runs = ring.read_new()
    assert [r.cut for r in runs] == [False] and len(runs[0].samples) == 480


def test_speaker_reference_overwrites_a_cut_with_silence_on_the_16k_clock() -> None:
    ring = ReferenceRing(RATE)
    reader = SpeakerReference(ring)
    ring.record(_signal(4800), 4.0)
    ring.cut(4.04)
    pushed: list[tuple[bytes, float]] = []
    reader.drain(lambda pcm, at: pushed.append((pcm, at)))
    # Silence from the cut to where the pushed reference ends (soxr still holds its
    # last few samples: they were never pushed, so need no overwriting).
    played = pushed[:-1]
    end = played[-1][1] + len(played[-1][0]) // 2 / 16_000
    assert end > 4.04 + 0.05
    pcm, at = pushed[-1]
    assert at == 4.04 and len(pcm) // 2 == round((end - 4.04) * 16_000)
    assert not np.frombuffer(pcm, "<i2").any()


def test_a_cut_in_silence_pushes_nothing() -> None:
    """Only pushed reference is overwritten: a cut while the speaker played the
    prebuffer's silence (nothing pushed) must not wake the canceller."""
    ring = ReferenceRing(RATE)
    reader = SpeakerReference(ring)
    ring.record(np.zeros(4800, np.float32), 4.0)
    ring.cut(4.04)
    pushed: list[object] = []
    reader.drain(lambda pcm, at: pushed.append(at))
    assert pushed == []


# ------------------------------------------------------------------ SpeakerReference

def test_speaker_reference_resamples_each_run_to_16k_with_its_dac_time() -> None:
    ring = ReferenceRing(RATE)
    reader = SpeakerReference(ring)
    x = _signal(RATE)  # 1 s
    pushed: list[tuple[bytes, float]] = []
    silence = np.zeros(4800, np.float32)
    ring.record(silence[:480], 1.99)  # prebuffer silence: not a reference
    pos = 0
    for n in [480] * 50 + [960] * 25:
        ring.record(x[pos:pos + n], 2.0 + pos / RATE)
        pos += n
        if pos % 2880 == 0:
            reader.drain(lambda pcm, at: pushed.append((pcm, at)))
    reader.drain(lambda pcm, at: pushed.append((pcm, at)))
    got = np.frombuffer(b"".join(p for p, _ in pushed), "<i2")
    # One run from the prebuffer's block on (it is contiguous with the reply): each
    # push is placed on the 16 kHz clock from that block's DAC time.
    k = 0
    for pcm, at in pushed:
        assert at == pytest.approx(1.99 + k / 16_000, abs=1e-9)
        k += len(pcm) // 2
    played = np.concatenate([silence[:480], x])
    whole = np.frombuffer(float_to_pcm16(soxr.resample(played, RATE, 16_000)), "<i2")
    n = min(len(got), len(whole)) - 200
    assert n > 15_000
    assert np.max(np.abs(got[:n].astype(int) - whole[:n])) <= 2


@pytest.mark.parametrize("off_grid", [0.0, 0.2, 0.4, 0.5, 0.7, 0.9])
def test_a_run_lands_on_the_16k_grid_where_it_was_played(off_grid: float) -> None:
    """The canceller places a push at its time rounded to a whole 16 kHz sample. A
    click played at a known DAC time must be found there, within 20 us, wherever
    between two 16 kHz samples the run began (rounded alone, up to 31 us off: a
    filter that learnt one reply's placement then loses 10-20 dB on the next)."""
    ring = ReferenceRing(RATE)
    reader = SpeakerReference(ring)
    x = np.zeros(4800, np.float32)
    x[2400] = 0.9
    start = 3.0 + off_grid / 16_000
    ring.record(x, start)
    ring.record(np.zeros(4800, np.float32), start + len(x) / RATE)  # the resampler's tail
    pushed: list[tuple[bytes, float]] = []
    reader.drain(lambda pcm, at: pushed.append((pcm, at)))
    pcm, at = pushed[0]
    y = np.frombuffer(pcm, "<i2").astype(float)
    k = int(np.argmax(y))
    frac = 0.5 * (y[k - 1] - y[k + 1]) / (y[k - 1] - 2 * y[k] + y[k + 1])  # parabola's top
    placed = (round(at * 16_000) + k + frac) / 16_000
    assert abs(placed - (start + 2400 / RATE)) < 20e-6


def test_a_silent_ring_pushes_nothing() -> None:
    ring = ReferenceRing(RATE)
    reader = SpeakerReference(ring)
    for k in range(20):
        ring.record(np.zeros(480, np.float32), k * 0.01)
    pushed: list[object] = []
    reader.drain(lambda pcm, at: pushed.append(at))
    reader.drain(lambda pcm, at: pushed.append(at))
    assert pushed == []


# ---------------------------------------------------------------- SteadyCaptureTimes

def test_steady_times_follow_the_earliest_read_and_ignore_late_ones() -> None:
    rng = np.random.default_rng(3)
    clock = SteadyCaptureTimes(16_000)
    block = 960
    errors = []
    for k in range(200):
        true_at = 50.0 + k * block / 16_000
        late = rng.uniform(0.0, 0.085)  # a PipeWire quantum of delivery delay
        got = clock.place(block, true_at + late)
        errors.append(got - true_at)
    settled = np.array(errors[20:])
    assert settled.min() >= -1e-9
    assert settled.max() < 0.01  # a few ms late at worst, never a quantum
    # Block to block, the times are contiguous within the canceller's 4 ms tolerance.
    assert np.max(np.abs(np.diff(settled))) < 0.004


def test_steady_times_follow_lost_samples_within_a_window() -> None:
    clock = SteadyCaptureTimes(16_000, window_s=1.0)
    block = 960
    for k in range(40):
        clock.place(block, 50.0 + k * 0.06)
    # 20 ms of samples lost: from now on every block is 20 ms later than counted.
    got = [clock.place(block, 50.0 + k * 0.06 + 0.02) - (50.0 + k * 0.06 + 0.02)
           for k in range(40, 80)]
    assert got[0] == pytest.approx(-0.02, abs=1e-3)  # the old origin still in the window
    assert got[-1] == pytest.approx(-0.004, abs=1e-3)  # followed within the window, early


def test_steady_times_start_over_after_a_jump() -> None:
    clock = SteadyCaptureTimes(16_000)
    assert clock.place(960, 10.0) == 10.0
    assert clock.place(960, 10.06) == pytest.approx(10.06)
    assert clock.place(960, 20.0) == 20.0
    assert clock.restarts == 1


# ---------------------------------------------------------------------- the hook

class _Recorder:
    """A processor that passes audio through, holding back 100 samples like a canceller."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []
        self.held = b""

    def process(self, pcm16_16k: bytes, at: float) -> bytes:
        self.calls.append((len(pcm16_16k) // 2, at))
        data = self.held + pcm16_16k
        self.held = data[-200:]
        return data[:-200]


def test_the_capture_hook_sees_every_converted_block_with_its_capture_time() -> None:
    from speech import compose

    x = compose([0.2, "what time is it", 1.2], rate=RATE)[0]
    block = RATE * 60 // 1000
    x = x[: len(x) // block * block]  # whole blocks: each read is 60 ms after the last
    now = [0.0]
    processor = _Recorder()
    plain = DetectorFeed(UtteranceDetector(), RATE, 1, clock=lambda: now[0])
    hooked = DetectorFeed(UtteranceDetector(), RATE, 1, clock=lambda: now[0], processor=processor)
    ends: list[tuple[str, int]] = []
    plain_ends: list[tuple[str, int]] = []
    for k, first in enumerate(range(0, len(x), block)):
        now[0] = 100.0 + (k + 1) * 0.06 + 0.01 * (k % 3)  # read late by 0-20 ms
        b = x[first:first + block, None]
        plain_ends += [(type(r.event).__name__, r.position) for r in plain.feed([b], 0)
                       if r.event is not None]
        ends += [(type(r.event).__name__, r.position) for r in hooked.feed([b], 0)
                 if r.event is not None]
    conv = CaptureConverter(RATE, 1)
    total = 0
    for (n, at), first in zip(processor.calls, range(0, len(x), block)):
        assert n * 2 == len(conv.feed(x[first:first + block, None]))
        # The capture time of the 16 kHz sample `total`: frame `total * 3` after 100.0,
        # late by what the read was late.
        assert at - (100.0 + total / 16_000) == pytest.approx(0.01 * ((first // block) % 3),  # noqa
                                                               abs=1e-6)
        total += n
    # The detector saw the processor's output: the same utterance as without it, its
    # positions up to the 100 held-back samples behind (a block's reports come at its end).
    assert [k for k, _ in ends] == [k for k, _ in plain_ends] == ["SpeechStarted",
                                                                   "UtteranceEnded"]
    for (_, hooked_at), (_, plain_at) in zip(ends, plain_ends):
        assert 0 <= plain_at - hooked_at <= 100


def test_echo_stage_drains_references_before_processing() -> None:
    order: list[str] = []

    class Canceller:
        def push_reference(self, pcm: bytes, at: float) -> None:
            order.append(f"ref {len(pcm)} {at}")

        def process(self, pcm: bytes, at: float) -> bytes:
            order.append(f"mic {len(pcm)}")
            return pcm

        def close(self) -> None:
            order.append("close")

    class Source:
        def drain(self, push) -> None:  # type: ignore[no-untyped-def]
            push(b"\x01\x00" * 10, 3.0)

    stage = EchoStage(Canceller(), [Source()])  # type: ignore[arg-type]
    assert stage.process(b"\x00\x00" * 320, 5.0) == b"\x00\x00" * 320
    stage.close()
    assert order == ["ref 20 3.0", "mic 640", "close"]
