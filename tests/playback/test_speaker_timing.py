"""The speaker on the PipeWire virtual speaker, fed with realistic arrival timing.

1. A reply arriving in bursts (the benchmark's "bursty" trace: a short first
   sentence, then the next one late), pushed at its arrival times with asyncio
   sleeps, through the adaptive jitter buffer: the recording of the speaker's
   monitor must contain every sample in order (found window by window), with at most
   one underrun.
2. The playback position: a reply with three markers (at its very start, before a
   stall in its arrival, and after it). The times ``heard_frames()`` says each
   marker reached the DAC must match the recording: the intervals between markers
   (the second one spans the underrun the stall causes) within ±30 ms, and the
   absolute time of the first marker against a recorder that timestamps what it
   reads (see TimedRecorder for what that time means).

Expected audio is the source itself (resampled to the recorder's rate).
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time

import numpy as np
import pytest
import soxr
from signals import similarity
from speech import synth
from vdev import SPEAKER_SINK, SpeakerRecorder

from voicebot.audio import API_SAMPLE_RATE, float_to_pcm16
from voicebot.capture.reference import ReferenceRing
from voicebot.playback import Speaker
from voicebot.playback.jittersim import bench_traces

TOLERANCE_S = 0.030


def marker(seconds: float = 0.03) -> np.ndarray:
    """A 1→5 kHz chirp: sharp autocorrelation, easy to find in a recording."""
    t = np.arange(int(seconds * API_SAMPLE_RATE)) / API_SAMPLE_RATE
    return (0.6 * np.sin(2 * np.pi * (1000 * t + 0.5 * (4000 / seconds) * t * t))).astype(
        np.float32)


def _normalised_correlation(seg: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Similarity of ``template`` with ``seg`` at every offset (a louder passage does
    not score higher, as it would in a raw cross-correlation)."""
    seg = seg.astype(np.float64)
    k = len(template)
    n = len(seg) + k
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(seg, size) * np.conj(np.fft.rfft(template, size)),
                        size)[: len(seg) - k + 1]
    energy = np.concatenate([[0.0], np.cumsum(seg * seg)])
    local = np.sqrt(np.maximum(energy[k:] - energy[:-k], 1e-12))
    return corr / (local * np.linalg.norm(template) + 1e-12)


def find(recording: np.ndarray, template: np.ndarray, lo: int, hi: int) -> tuple[int, float]:
    """Where ``template`` (at the recorder's rate) matches best in recording[lo:hi],
    and the similarity there."""
    lo, hi = max(0, lo), min(len(recording), hi)
    if hi - lo < len(template):
        return lo, 0.0
    lag = int(np.argmax(_normalised_correlation(recording[lo:hi], template)))
    return lo + lag, similarity(recording[lo + lag:lo + lag + len(template)], template)


def find_first(recording: np.ndarray, template: np.ndarray, lo: int,
               threshold: float = 0.9) -> int | None:
    """The first place after ``lo`` where ``template`` matches (similarity above
    ``threshold``, at its local best): for a marker that occurs more than once."""
    ncorr = _normalised_correlation(recording[lo:], template)
    above = np.flatnonzero(ncorr > threshold)
    if len(above) == 0:
        return None
    first = int(above[0])
    return lo + first + int(np.argmax(ncorr[first:first + len(template)]))


def _split_by_gap(recording: np.ndarray, ref: np.ndarray, at: int,
                  max_gap: int) -> tuple[int, int] | None:
    """If ``ref`` is in ``recording`` from ``at`` with one gap of silence inside it (up
    to ``max_gap`` samples): (the gap, where ``ref`` ends), else None. Tries every
    split point 1 ms apart, the head at ``at`` and the tail found after it."""
    step = max(1, len(ref) // 100)
    best: tuple[float, int, int] | None = None
    for k in range(step, len(ref) - step + 1, step):
        tail_at, _ = find(recording, ref[k:], at + k, at + k + max_gap + len(ref))
        joined = np.concatenate([recording[at:at + k], recording[tail_at:tail_at + len(ref) - k]])
        if len(joined) == len(ref) and tail_at > at + k:
            score = similarity(joined, ref)
            if best is None or score > best[0]:
                best = (score, tail_at - (at + k), tail_at + len(ref) - k)
    return (best[1], best[2]) if best is not None and best[0] >= 0.9 else None


def contains_in_order(recording: np.ndarray, reference: np.ndarray, rate: int,
                      window_s: float = 0.1,
                      max_gap_s: float = 1.0) -> tuple[list[str], list[int]]:
    """Find each window of ``reference`` in ``recording``, each one after the last
    (gaps allowed, up to ``max_gap_s``, between windows or inside one). Returns the
    problems (none if every audible window is there, in order, intact) and the gaps
    found (in samples; silent source windows are skipped, so a gap there shows at
    the next audible window)."""
    win = int(window_s * rate)
    search_before = rate // 50
    problems: list[str] = []
    jumps: list[int] = []
    expected = None
    for start in range(0, len(reference) - win + 1, win):
        ref = reference[start:start + win]
        if np.linalg.norm(ref) < 1e-2 * np.sqrt(win):
            if expected is not None:
                expected += win  # silence in the source: nothing to find, keep pace
            continue
        if expected is None:
            pos, score = find(recording, ref, 0, len(recording))
        else:
            pos, score = find(recording, ref, expected - search_before,
                              expected + int(max_gap_s * rate) + win)
        if score < 0.9 and expected is not None and (split := _split_by_gap(
                recording, ref, expected, int(max_gap_s * rate))) is not None:
            # An underrun's silence fell inside this window: its head where expected,
            # its tail after the gap, every sample there.
            jump, pos = split
            jumps.append(jump)
            expected = pos
            continue
        if score < 0.9:
            problems.append(f"window at {start * 1000 // rate} ms: similarity {score:.2f}")
        elif expected is not None and pos < expected - search_before // 2:
            problems.append(f"window at {start * 1000 // rate} ms came too early")
        elif expected is not None and pos > expected + search_before // 2:
            jumps.append(pos - expected)
        expected = pos + win
    return problems, jumps


# ------------------------------------------------------------------ every sample

@pytest.mark.audio
def test_bursty_reply_plays_every_sample_with_at_most_one_underrun(audio_devices: None) -> None:
    speech = synth("One two three four five six. Seven eight nine ten, testing the jitter "
                   "buffer with a reply that arrives in bursts.", API_SAMPLE_RATE)
    x = (0.8 * speech / np.abs(speech).max()).astype(np.float32)
    pcm = float_to_pcm16(x)
    trace = next(t for t in bench_traces(1) if t.name == "bursty")
    # The trace's arrival times and sizes (at 48 kHz) cut the reply (at 24 kHz).
    cuts, times, done = [], [], 0
    for a in trace.arrivals:
        if done >= len(x):
            break
        done = min(len(x), done + a.frames * API_SAMPLE_RATE // trace.sample_rate)
        cuts.append(done)
        times.append(a.at_s - trace.arrivals[0].at_s)
    cuts[-1] = len(x)

    async def play() -> Speaker:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, loop=loop)
        try:
            await asyncio.sleep(0.2)
            start, prev = loop.time(), 0
            for cut, at in zip(cuts, times):
                await asyncio.sleep(max(0.0, start + at - loop.time()))
                speaker.push_pcm16(pcm[2 * prev:2 * cut])
                prev = cut
            speaker.end_of_stream()
            await speaker.drained()
        finally:
            speaker.close()
        return speaker

    with SpeakerRecorder() as rec:
        speaker = asyncio.run(play())

    assert speaker.underruns <= 1
    assert speaker.jitter.finished and speaker.frames_played == speaker.frames_received
    reference = soxr.resample(x, API_SAMPLE_RATE, rec.rate).astype(np.float32)
    problems, gaps = contains_in_order(rec.samples, reference, rec.rate)
    assert not problems, f"{speaker.underruns} underruns, {speaker.xruns} xruns: {problems}"
    assert len(gaps) <= speaker.underruns, gaps


@pytest.mark.parametrize("gap_at_ms", [4000, 4050, 4099, 5030])  # inside a window or not
def test_a_gap_inside_a_window_is_a_gap_and_lost_samples_are_not(gap_at_ms: int) -> None:
    """The checker above: an underrun's silence anywhere (between the 100 ms windows or
    inside one) is one gap, every sample still there; samples lost are a problem."""
    rate = 48_000
    speech = synth("One two three four five six. Seven eight nine ten, testing the jitter "
                   "buffer with a reply that arrives in bursts.", rate)
    x = (0.8 * speech / np.abs(speech).max()).astype(np.float32)
    cut, gap = gap_at_ms * rate // 1000, 1200  # 25 ms of silence
    pad = np.zeros(rate // 10, np.float32)
    played = np.concatenate([pad, x[:cut], np.zeros(gap, np.float32), x[cut:], pad])
    problems, gaps = contains_in_order(played, x, rate)
    assert problems == [] and gaps == [gap], (problems, gaps)
    lost = np.concatenate([pad, x[:cut], x[cut + gap:], pad])
    assert contains_in_order(lost, x, rate)[0], "control: lost samples are a problem"


# ------------------------------------------------------------------ the position

class TimedRecorder(SpeakerRecorder):
    """A SpeakerRecorder that also notes, for every chunk parec hands over, the
    monotonic time it was read. The recording's sample k is then taken to have
    reached the speaker's monitor at ``read_time(chunk) - (samples after k in the
    chunk) / rate``: an upper bound, late by parec's own buffering (it is asked for
    10 ms, and delivers what the monitor gives it)."""

    def __init__(self) -> None:
        super().__init__()
        # (which chunk list, its bytes so far, monotonic time of the read): entering
        # starts a new list, as SpeakerRecorder keeps only what comes from then on.
        self.reads: list[tuple[int, int, float]] = []

    def _start(self) -> bool:
        self._chunks = []
        self.reads = []
        self._proc = subprocess.Popen(
            ["parec", f"--device={SPEAKER_SINK}.monitor", "--format=s16le",
             f"--rate={self.rate}", "--channels=1", "--latency-msec=10"],
            stdout=subprocess.PIPE)
        proc = self._proc

        def drain() -> None:
            assert proc.stdout is not None
            totals: dict[int, int] = {}
            while chunk := proc.stdout.read1(65536):
                now = time.monotonic()
                chunks = self._chunks
                chunks.append(chunk)
                total = totals[id(chunks)] = totals.get(id(chunks), 0) + len(chunk)
                self.reads.append((id(chunks), total, now))

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if sum(map(len, self._chunks)) >= self.rate // 5:
                return True
            time.sleep(0.02)
        self._stop()
        return False

    def __enter__(self) -> "TimedRecorder":
        super().__enter__()
        return self

    def time_of(self, sample: int) -> float:
        """Monotonic time at which recorded sample ``sample`` had been read."""
        kept = id(self._chunks)
        byte = 2 * (sample + 1)
        for chunks, total, at in self.reads:
            if chunks == kept and total >= byte:
                return at - (total - byte) / 2 / self.rate
        raise ValueError("sample beyond the recording")


def heard_at(speaker: Speaker, sample: int, lo: float, hi: float) -> float:
    """The first monotonic time at which heard_frames() reaches ``sample`` (bisection:
    heard_frames only grows with time)."""
    assert speaker.heard_frames(hi) >= sample > speaker.heard_frames(lo)
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if speaker.heard_frames(mid) >= sample else (mid, hi)
    return hi


@pytest.mark.audio
def test_heard_frames_matches_the_recording(audio_devices: None) -> None:
    rate = API_SAMPLE_RATE
    m = marker()
    x = np.zeros(int(1.6 * rate), np.float32)
    noise = np.random.default_rng(5).normal(0, 0.02, len(x)).astype(np.float32)
    x += noise  # quiet, but never silent: a dropout shows
    marks = {"start": 0, "before stall": int(0.5 * rate), "after stall": int(1.2 * rate)}
    for at in marks.values():
        x[at:at + len(m)] = m
    split = int(0.8 * rate)  # the rest arrives 1.1 s after the first part: a stall
    pcm = float_to_pcm16(x)

    async def play() -> tuple[Speaker, dict[str, float], float]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, loop=loop)
        try:
            await asyncio.sleep(0.2)
            speaker.push_pcm16(pcm[:2 * split])
            await asyncio.sleep(1.1)
            speaker.push_pcm16(pcm[2 * split:])
            speaker.end_of_stream()
            await speaker.drained()
            first = speaker.first_sound_at
            assert first is not None
            reported = {name: heard_at(speaker, at + 1, first - 0.01, first + 3.0)
                        for name, at in marks.items()}
            # While the stall lasted, heard_frames stood still at the end of part one
            # (less the few ms the resampler holds back until more input comes).
            gap_mid = (reported["before stall"] + reported["after stall"]) / 2
            held = speaker.heard_frames(gap_mid - 0.05)
            assert held == speaker.heard_frames(gap_mid + 0.05)
            assert split - 0.03 * rate <= held <= split
        finally:
            speaker.close()
        return speaker, reported, first

    with TimedRecorder() as rec:
        speaker, reported, first = asyncio.run(play())

    assert speaker.underruns == 1  # the stall, and only it
    assert reported["start"] == pytest.approx(first, abs=1e-3)
    template = soxr.resample(m, rate, rec.rate).astype(np.float32)
    found: dict[str, int] = {}
    lo = 0
    for name in marks:  # the same marker three times: each the first after the last
        pos = find_first(rec.samples, template, lo)
        assert pos is not None, f"{name} marker not found"
        found[name] = pos
        lo = pos + len(template)
    # Intervals between markers: the second spans the underrun.
    for a, b in [("start", "before stall"), ("before stall", "after stall")]:
        recorded = (found[b] - found[a]) / rec.rate
        said = reported[b] - reported[a]
        assert abs(said - recorded) <= TOLERANCE_S, (a, b, said, recorded)
    # Absolute: the first marker as the recorder read it, against first_sound_at.
    # (The recorder's time is late by parec's buffering; seen: 3-5 ms.)
    lag = rec.time_of(found["start"]) - first
    print(f"recorder read the first marker {lag * 1000:+.1f} ms after first_sound_at; "
          f"stall gap {reported['after stall'] - reported['before stall'] - 0.7:.3f} s")
    assert abs(lag) <= TOLERANCE_S, lag


@pytest.mark.audio
def test_the_reference_tap_times_replies_to_a_sample_across_stream_restarts(
        audio_devices: None) -> None:
    """An echo canceller places each reply's reference by the DAC time the tap
    recorded for it, and one that learnt the echo path on one reply loses 20-30 dB
    of echo on the next if it is placed a sample off (a reply after a barge-in
    interrupted itself that way). Three replies, each in a stream of its own (the
    speaker stops between them): where each marker is in a continuous recording of
    the speaker's monitor, less where the tap says it reached the DAC, must be the
    same for all three within a 16 kHz sample (62.5 us). PortAudio's DAC times gave
    17-39 us here; the callback's own clock reading, which the tap once used, is
    100-190 us late on a stream's first block and 18-83 us apart between streams."""
    reply = np.concatenate([np.zeros(API_SAMPLE_RATE // 20, np.float32), marker(),
                            np.zeros(API_SAMPLE_RATE // 20, np.float32)])

    async def play() -> tuple[int, list[float]]:
        loop = asyncio.get_running_loop()
        speaker = Speaker(None, prebuffer_ms=40, linger_ms=0, loop=loop)
        ring = ReferenceRing(speaker.sample_rate)
        speaker.tap_reference(ring)
        template = soxr.resample(marker(), API_SAMPLE_RATE, speaker.sample_rate)
        at: list[float] = []
        try:
            for _ in range(3):
                speaker.push_pcm16(float_to_pcm16(reply))
                speaker.end_of_stream()
                await speaker.drained()
                await asyncio.sleep(0.3)  # the stream stops: the next reply restarts it
                assert not speaker.running
                runs = ring.read_new()
                assert runs and not runs[0].continues
                played = np.concatenate([r.samples for r in runs])
                i = int(np.argmax(_normalised_correlation(played, template)))
                at.append(runs[0].dac_time + i / speaker.sample_rate)
        finally:
            speaker.close()
        return speaker.sample_rate, at

    with SpeakerRecorder() as rec:
        rate, dac_times = asyncio.run(play())
    template = soxr.resample(marker(), API_SAMPLE_RATE, rec.rate)
    recorded, lo = [], 0
    for _ in dac_times:
        pos = find_first(rec.samples, template, lo)
        assert pos is not None, "a marker is missing from the recording"
        recorded.append(pos / rec.rate)
        lo = pos + len(template)
    offsets = np.array(recorded) - np.array(dac_times)
    spread_us = (offsets.max() - offsets.min()) * 1e6
    assert spread_us < 62.5, f"recording - DAC time per reply (us): {np.round(offsets * 1e6)}"
