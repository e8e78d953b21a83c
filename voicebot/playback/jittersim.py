"""Replay arrival traces through the real :class:`JitterBuffer` in simulated time.

Pure: no clock, no sleeping, no I/O. A trace is a reply's audio deltas with the times
they arrived. :func:`replay` pushes each delta at its arrival time and pulls 10 ms
blocks at real time on a fixed grid (the output callback), then measures what a
listener would notice: the start delay (first sample out − first delta in), the
underruns, the silence inside the reply (gaps) and any sample lost.
:func:`hindsight_delay_s` is the yardstick: the smallest start delay with which
continuous real-time playback never waits for a sample (knowing the whole trace).
:func:`bench_traces` is the family of traces the benchmark and the tests replay;
the jittery ones draw network delays from a seeded generator, so they are the same
on every run.

Used by ``scripts/bench_jitter.py`` and the tests; nothing in the player needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .jitter import JitterBuffer, PlaybackState
from .jitterpolicy import JitterPolicy

__all__ = ["Arrival", "ArrivalTrace", "ReplayResult", "bench_traces", "block_optimum_s",
           "hindsight_delay_s", "replay"]

SIM_RATE = 48_000  # a common device rate; what the speaker's buffer holds
GOAL_RATIO = 1.25
GOAL_SLACK_S = 0.020  # two 10 ms pulls


@dataclass(frozen=True)
class Arrival:
    """``frames`` of audio (at the trace's rate) that arrived at ``at_s``."""

    at_s: float
    frames: int


@dataclass(frozen=True)
class ArrivalTrace:
    name: str
    arrivals: tuple[Arrival, ...]
    sample_rate: int = SIM_RATE
    realistic: bool = True
    """A stream a real server and network produce (the goal applies to these)."""

    @property
    def frames(self) -> int:
        return sum(a.frames for a in self.arrivals)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def hindsight_delay_s(trace: ArrivalTrace) -> float:
    """The hindsight optimum: the smallest start delay ``D`` (after the first delta
    arrived) such that playing continuously at real time never needs a sample before
    it arrived: ``max over deltas of (arrival − first arrival − frames before / rate)``.
    One pass; a delta's first sample is its most demanding one."""
    if not trace.arrivals:
        return 0.0
    first = trace.arrivals[0].at_s
    before = 0
    worst = 0.0
    for a in trace.arrivals:
        worst = max(worst, a.at_s - first - before / trace.sample_rate)
        before += a.frames
    return worst


def block_optimum_s(trace: ArrivalTrace, *, block_ms: float = 10.0, phase_ms: float = 2.5,
                    fade_ms: float = 3.0) -> float:
    """The hindsight optimum for this player: the smallest start delay (from the first
    arrival to the first sample out) of a buffer that knew the trace in advance and
    started on the same pull grid as :func:`replay`, never underrunning. Each pull of
    ``block_ms`` needs its block and the fade reserve after it (until the last delta
    is in), so this is :func:`hindsight_delay_s` plus up to about one block and the
    reserve, depending on how the grid falls."""
    rate = trace.sample_rate
    arrivals = sorted(trace.arrivals, key=lambda a: a.at_s)
    if not arrivals:
        return 0.0
    block = max(1, int(round(block_ms * rate / 1000.0)))
    fade = int(round(fade_ms * rate / 1000.0))
    period = block / rate
    phase = phase_ms / 1000.0
    ends = np.cumsum([a.frames for a in arrivals])
    at = np.array([a.at_s for a in arrivals])
    total = int(ends[-1])
    blocks = -(-total // block)
    m = np.arange(blocks)
    needed_end = np.minimum((m + 1) * block + fade, total)  # exclusive sample index
    chunk = np.searchsorted(ends, needed_end, side="left")  # chunk holding needed_end - 1
    need_s = at[chunk]
    first_pull = int(np.ceil((at[0] - phase) / period - 1e-9))
    start = max(first_pull, int(np.max(np.ceil((need_s - phase) / period - 1e-9) - m)))
    return float(phase + start * period - at[0])


@dataclass(frozen=True)
class ReplayResult:
    start_delay_s: float
    """First real sample out − first delta in."""
    underruns: int
    gap_s: float
    """Silence between the first and the last real sample out."""
    frames_pushed: int
    frames_out: int
    """Real (non-silent) samples that came out: ``frames_pushed`` when none is lost."""
    output: np.ndarray
    """Everything pulled, silence included (one block per pull, back to back)."""

    @property
    def frames_lost(self) -> int:
        return self.frames_pushed - self.frames_out

    @property
    def cost_s(self) -> float:
        """What the listener waited for beyond real time: start delay + gaps."""
        return self.start_delay_s + self.gap_s

    def meets_goal(self, optimum_s: float) -> bool:
        """The goal on realistic traces: nothing lost, at most one underrun, and start
        delay + gaps within 25 % of ``optimum_s`` — or within :data:`GOAL_SLACK_S` of
        it when the optimum is so small that 25 % of it is less than the pull grid
        can resolve (a player pulling 10 ms blocks can be a block late by phase)."""
        return (self.frames_lost == 0 and self.underruns <= 1
                and self.cost_s <= max(GOAL_RATIO * optimum_s, optimum_s + GOAL_SLACK_S))


def replay(trace: ArrivalTrace, policy: JitterPolicy | None = None, *,
           signal: np.ndarray | None = None, block_ms: float = 10.0,
           phase_ms: float = 2.5, fade_ms: float = 3.0,
           buffer: JitterBuffer | None = None) -> ReplayResult:
    """Push ``trace`` through a JitterBuffer (``buffer``, or a new one with ``policy``)
    and pull ``block_ms`` blocks at ``phase_ms + k·block_ms`` seconds of trace time.

    ``signal`` (``trace.frames`` samples, none of them 0) is what is pushed, sliced
    as the trace says; by default a constant 0.5, so real samples (faded or not) are
    non-zero and silence is exactly 0. End of stream is signalled with the last delta.
    """
    rate = trace.sample_rate
    total = trace.frames
    x = np.full(total, 0.5, np.float32) if signal is None else signal
    if len(x) != total:
        raise ValueError("signal must have one sample per trace frame")
    jb = buffer if buffer is not None else JitterBuffer(rate, policy, fade_ms=fade_ms)
    block = max(1, int(round(block_ms * rate / 1000.0)))
    arrivals = sorted(trace.arrivals, key=lambda a: a.at_s)  # stable: keeps equal times' order
    outs: list[np.ndarray] = []
    pos = 0
    i = 0
    k = 0
    # Enough pulls to play everything after the last arrival, whatever the target.
    limit = int((arrivals[-1].at_s + 2 * trace.duration_s + 5.0) * 1000 / block_ms) + 10
    while k < limit:
        t = (phase_ms + k * block_ms) / 1000.0
        while i < len(arrivals) and arrivals[i].at_s <= t:
            a = arrivals[i]
            jb.push(x[pos:pos + a.frames], now=a.at_s)
            pos += a.frames
            i += 1
            if i == len(arrivals):
                jb.end_of_stream()
        out = np.zeros(block, np.float32)
        jb.pull(out)
        outs.append(out)
        k += 1
        if i == len(arrivals) and jb.state is PlaybackState.ENDED:
            break
    output = np.concatenate(outs) if outs else np.zeros(0, np.float32)
    real = np.flatnonzero(output)
    if len(real) == 0:
        return ReplayResult(0.0, jb.underruns, 0.0, total, 0, output)
    first, last = int(real[0]), int(real[-1])
    first_out_s = phase_ms / 1000.0 + first / rate  # blocks are back to back
    gap_frames = (last - first + 1) - len(real)
    return ReplayResult(start_delay_s=first_out_s - arrivals[0].at_s, underruns=jb.underruns,
                        gap_s=gap_frames / rate, frames_pushed=jb.frames_pushed,
                        frames_out=len(real), output=output)


# ------------------------------------------------------------------ the trace family

def _ms(ms: float, rate: int = SIM_RATE) -> int:
    return int(round(ms * rate / 1000.0))


def _paced(sizes_ms: Sequence[float], speed: float, start_s: float = 0.0) -> list[float]:
    """Send times of deltas generated at ``speed`` × real time."""
    times, t = [], start_s
    for size in sizes_ms:
        times.append(t)
        t += size / 1000.0 / speed
    return times


def _network(send_s: Sequence[float], rng: np.random.Generator, *,
             stalls: Sequence[tuple[float, float]] = ()) -> list[float]:
    """Arrival times over a jittery TCP link: a one-way delay of 20 ms plus a
    gamma-distributed jitter (mean 16 ms, s.d. 11 ms), a 1 % chance of a 40–120 ms
    spike per delta (a retransmission, a Wi-Fi hiccup), and ``stalls`` (start, length)
    during which nothing gets through. TCP keeps order: a delta never overtakes the
    one before, so what a spike or stall held back arrives in one burst after it."""
    arrivals: list[float] = []
    last = -1.0
    for t in send_s:
        delay = 0.020 + rng.gamma(2.0, 0.008)
        if rng.random() < 0.01:
            delay += rng.uniform(0.040, 0.120)
        at = t + delay
        for start, length in stalls:
            if start <= at < start + length:
                at = start + length + 0.001
        at = max(at, last + 0.0002)
        arrivals.append(at)
        last = at
    return arrivals


def _trace(name: str, times: Sequence[float], sizes_ms: Sequence[float], *,
           realistic: bool = True) -> ArrivalTrace:
    return ArrivalTrace(name, tuple(Arrival(float(t), _ms(s)) for t, s in zip(times, sizes_ms)),
                        realistic=realistic)


def bench_traces(seed: int = 1, duration_s: float = 6.0) -> list[ArrivalTrace]:
    """The benchmark's traces, about ``duration_s`` of audio each (jitter seeded).

    Clean pacing (exact, no network): steady real time, 1.5× real time and 0.95× real
    time (slower than real time: no start delay short of the whole deficit avoids
    waiting, so the goal does not apply). Realistic (a server ahead of real time
    behind a jittery link, see :func:`_network`): 40 ms deltas at 1.2×; bursty
    (per-sentence audio generated at 1.5× real time, a short first sentence, each
    sentence sent as 200–400 ms deltas in one burst); a slow first byte (600 ms before the first delta) at 1.1×;
    two 250 ms stalls at 1.15×.
    """
    rng = np.random.default_rng(seed)
    n40 = int(duration_s * 1000 / 40)
    d40 = [40.0] * n40
    traces = [
        _trace("steady 1.0x", _paced(d40, 1.0), d40, realistic=False),
        _trace("fast 1.5x", _paced(d40, 1.5), d40, realistic=False),
        _trace("slow 0.95x", _paced(d40, 0.95), d40, realistic=False),
        _trace("jittery 1.2x", _network(_paced(d40, 1.2), rng), d40),
    ]
    # Bursty: a per-sentence server: each sentence is synthesised at 1.5x real time
    # once the previous one is done, then sent at once as 200-400 ms deltas. Replies
    # often open with a short phrase ("Sure."): a first sentence of 0.5-1 s, then
    # sentences of 0.5-3 s.
    sizes, sends, t, total = [], [], 0.0, 0.0
    while total < duration_s * 1000:
        sentence = rng.uniform(500, 1000) if total == 0 else rng.uniform(500, 3000)
        t += sentence / 1000.0 / 1.5
        left = sentence
        while left > 0:
            size = min(left, rng.uniform(200, 400))
            sizes.append(size)
            sends.append(t)
            t += 0.002
            left -= size
        total += sentence
    traces.append(_trace("bursty", _network(sends, rng), sizes))
    traces.append(_trace("slow first byte", _network(_paced(d40, 1.1, start_s=0.6), rng), d40))
    stalls = ((0.5, 0.25), (2.0, 0.25))
    traces.append(_trace("2 stalls 1.15x", _network(_paced(d40, 1.15), rng, stalls=stalls), d40))
    return traces
