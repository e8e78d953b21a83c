"""How the echo canceller works: :class:`AecConfig`, its settings and why each has
the value it has. Pure data, no I/O.

Kept apart from the canceller (``aec.py``) so the reasons behind each number
(measured on ``scripts/bench_aec.py``'s simulated rooms and on the PipeWire rig)
stay next to the number without burying the canceller's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["AecConfig"]

_RATE = 16_000


@dataclass(frozen=True)
class AecConfig:
    """How the echo canceller works. Durations in milliseconds.

    Defaults were chosen on simulated rooms with eSpeak NG speech
    (``scripts/bench_aec.py``): 20 ms frames cancel 2-3 dB more than 10 ms ones
    for a quarter less CPU; a 64 ms filter behind the measured delay holds a desk
    speaker's echo path (the tail beyond it is left to the residual echo
    suppressor, which is worth 5-7 dB and keeps webrtcvad quiet on what remains).
    """

    frame_ms: int = 20
    #: Adaptive filter length: the echo path it models, starting ``margin_ms``
    #: before the measured delay.
    filter_ms: int = 64
    #: The reference is read this much earlier than the measured delay, so the
    #: direct path lands inside the filter even if the estimate is a little late.
    margin_ms: int = 4
    #: The longest delay beyond the timestamps that is looked for.
    max_delay_ms: int = 500
    #: Residual echo suppression (SpeexDSP's preprocessor) after the filter: the
    #: most it attenuates the echo the filter left, with and without a talker.
    suppress: bool = True
    echo_suppress_db: int = -40
    echo_suppress_active_db: int = -15
    #: The output is trusted once the delay is measured and the canceller has
    #: removed at least ``trust_erle_db`` of the echo over ``trust_window_ms`` (and,
    #: with the guard, once the guard has learnt the echo's level: until then it
    #: lets everything through; on the rig trust came 100 ms before it in 1 of 16
    #: first replies, and that reply's echo started speech).
    trust_erle_db: float = 15.0
    trust_window_ms: int = 200
    #: Give up waiting after this much reference (no echo at all: headphones, a
    #: muted speaker; or a user talking through the warm-up) and trust it anyway.
    warmup_max_ms: int = 2000
    #: Output silence during reference until trusted (False: the canceller's output,
    #: for a caller that is deaf by other means while it learns).
    warmup_silence: bool = True
    #: The guard (``aec_guard.EchoGuard``): a frame that lost less than
    #: ``guard_min_erle_db`` through the canceller passes only if it is
    #: ``guard_talk_margin_db`` louder than the loudest echo the reference of the
    #: last ``guard_back_ms`` (and next ``guard_ahead_ms``: a delay that shrank)
    #: could have made; a reference frame below ``guard_min_reference_dbfs`` has no
    #: echo to fear.
    guard: bool = True
    guard_min_erle_db: float = 10.0
    #: ... and ``guard_young_min_erle_db`` in the first ``guard_young_ms`` of loud
    #: reference of the canceller's life, while its filter converges.
    guard_young_min_erle_db: float = 20.0
    guard_young_ms: int = 3000
    #: ... and in the first ``guard_fresh_ms`` of loud reference after each pause in
    #: it (a new reply): the filter re-converges when a reply lands a sample off where
    #: the last one did (DAC times jitter; 1 sample costs it 20 dB of echo for a
    #: second or more), or when it adapted to a talker over the last reply; and again
    #: after each new measurement of the delay (the filter re-converges on the moved
    #: echo path: on the rig, 5-15 dB removed for ~0.5 s after a 10 ms move).
    guard_fresh_ms: int = 1000
    guard_talk_margin_db: float = 2.0
    guard_back_ms: int = 200
    guard_ahead_ms: int = 100
    #: After the canceller stops (``filter_ms`` and a frame past the last reference),
    #: the guard judges ``guard_tail_ms`` more of the microphone by level alone
    #: (``EchoGuard.admit_tail``): a frame ``guard_tail_db`` below the loudest echo the
    #: last reference could have made is the room's reverberation, which outlasts the
    #: filter and reached the VAD raw (bench_aec "replies one after another": 2 false
    #: starts at +2 dB, ~0.24 s after a reply's end; none with this). The canceller is
    #: not run on it: adapting and learning on those frames changed how the next reply
    #: was judged. -30 dB leaves a talker who answers the instant a reply ends as
    #: quick as without the rule (-20 dB: up to 200 ms later with a loud speaker,
    #: their first sounds silenced; -35 dB: 1 false start of 15 replies).
    guard_tail_ms: int = 200
    guard_tail_db: float = -30.0
    guard_min_reference_dbfs: float = -50.0
    #: ... and any frame whose output is this far below the loudest echo the recent
    #: reference could have made is the canceller's residue, silenced (None: off).
    #: The residue is ~28 dB below the echo; a louder speaker makes it loud enough to
    #: sound voiced (bench_aec "start triggers": echo at -4 dB, 1 false start in 2
    #: min; at +2 dB, 34) while the rig's -10 dB has none. -25 dB: none at -10 to +6
    #: dB; -27: 3 at +2 dB. A talker as loud as the echo itself is heard more often
    #: but later (20 of 23, median 0.83 s after the onset; without: 14, 0.48 s).
    guard_residual_db: float | None = -25.0
    #: ... and ``guard_young_residual_db`` while the filter is young (a new reply's
    #: first second, the first replies of its life): on the rig's loopback a reply
    #: after a barge-in left a residue 30-35 dB below the echo in its first 0.4 s,
    #: which the VAD called speech (the reply interrupted itself in ~1 of 7 tries).
    #: -25 dB there held the first talker over a fresh reply back by 1.3 s
    #: (tests/capture/test_aec.py); -30 holds back none (bench_aec, "replies one
    #: after another").
    guard_young_residual_db: float | None = -30.0
    #: The guard learns the echo's level only from frames the linear filter alone took
    #: this much out of (besides ``trust_erle_db`` in all): SpeexDSP's residual echo
    #: suppressor also takes 15 dB or more out of a talker's words over a young filter
    #: (a question said over the kiosk's wake earcon, no echo: 35 of 40 such questions
    #: lost frames to the guard, which had learnt the talker as the echo; with 6 dB,
    #: 0 of 40; the filter took at most 3.4 dB out of those frames).
    guard_filter_erle_db: float = 6.0
    #: ... or from frames within this long of one (before or after it): learning from
    #: those alone kept the echo's level up to 8 dB low while the filter converged, and
    #: the rig's reply interrupted itself (4 of 16 first replies let echo frames
    #: through, one of them started speech; 0 of 16 with 500 ms).
    guard_confirm_ms: int = 500

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20):
            raise ConfigError("aec frame_ms must be 10 or 20")
        if self.filter_ms < 2 * self.frame_ms or self.margin_ms < 0 or self.max_delay_ms < 0:
            raise ConfigError("aec filter_ms must be >= two frames; margins must be >= 0")
        for name in ("guard_residual_db", "guard_young_residual_db"):
            db = getattr(self, name)
            if db is not None and db >= 0:
                raise ConfigError(f"aec {name} must be below 0 dB (or None: off)")
        if self.guard_tail_ms < 0 or self.guard_tail_db >= 0:
            raise ConfigError("aec guard_tail_ms must be >= 0 and guard_tail_db below 0 dB")

    @property
    def frame_samples(self) -> int:
        return self.frame_ms * _RATE // 1000
