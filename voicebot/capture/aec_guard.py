"""The echo canceller's guard: residual echo must never start an utterance. Pure.

No I/O, no clock: fed one frame's powers at a time, it answers whether the frame
may pass. Imports nothing beyond the standard library.

An adaptive filter loses the echo whenever the echo path moves under it: a sound
server's loopback that missed a deadline and came back later, samples lost from
the capture stream, a speaker moved. Until the delay is measured again and the
filter has re-adapted (a second or more), almost all of the echo comes through,
and the VAD hears the assistant as a user. :class:`EchoGuard` reasons the way
WebRTC AEC3's suppressor and SpeexDSP's residual echo suppressor do, from levels:

- While the canceller works, a frame loses most of its power through it
  (``min_erle_db``, 10 dB; ``young_min_erle_db``, 20 dB, for the first
  ``young_frames`` frames of loud reference, while the filter converges, and again
  for a while after each pause in the reference and each new delay:
  :meth:`EchoGuard.refresh`): it passes, whatever is in it.
- The echo return loss (how loud the echo is against the reference, ``erl``) is
  learnt on frames that lost ``learn_erle_db``, as an upper envelope (it decays by
  ``erl_decay_db`` per learning frame, so a quieter room is followed). A residual
  echo suppressor also thins a talker's words over a young filter, and those are no
  echo to learn: a frame counts only if the linear filter itself took
  ``filter_erle_db`` out of it or out of another frame within ``confirm_frames``
  before or after it (the filter has proven an echo path there). Learning from the
  proven frames alone kept ``erl`` up to 8 dB under the echo's loudest frames while
  the filter converged: the reply's own echo then passed as a talker.
- A frame that loses less than ``min_erle_db`` is either double talk (someone is
  speaking over the reply) or echo the canceller missed. It passes only when the
  microphone is ``talk_margin_db`` louder than the loudest echo the recent
  reference could have made (``erl`` times its loudest frame); otherwise it is
  silenced. A user can still talk over the reply; the reply cannot.
- With ``residual_db``, once the filter has grown up, a frame whose output is that
  far below the loudest echo the recent reference could have made is silenced even
  though the canceller worked: it is the canceller's residue (~28 dB below the
  echo), which a loud speaker makes loud enough for the VAD to call speech. While
  the filter is young, ``young_residual_db`` (lower: the suppressor of a young
  filter also thins a talker's words, which ``residual_db`` would take for residue).
- After the reference has ended and the canceller has stopped, the room's
  reverberation goes on a little: :meth:`EchoGuard.admit_tail` silences those frames
  that stand ``tail_db`` below the loudest echo the reply's last reference could have
  made (as the residue rules do), learning nothing, so the next reply meets the
  guard as the last one left it.
- Frames silenced in a row (``lost_after_frames``) that lost less than
  ``lost_erle_db`` mean the echo is lost, not briefly leaking: :attr:`EchoGuard.lost`
  asks for the delay to be measured again at once.

Until ``erl`` is learnt nothing is silenced (headphones: there is no echo to learn).
"""

from __future__ import annotations

from collections import deque

__all__ = ["EchoGuard"]


def _ratio(db: float) -> float:
    return float(10 ** (db / 10))


class EchoGuard:
    """Decides, frame by frame, whether the canceller's output may reach the VAD.

    Powers are sums of squares of PCM16 samples over one frame (any consistent
    unit). One thread (the capture thread that owns the canceller).
    """

    def __init__(self, *, min_erle_db: float = 10.0, young_min_erle_db: float = 20.0,
                 young_frames: int = 150, learn_erle_db: float = 15.0,
                 talk_margin_db: float = 2.0, erl_decay_db: float = 0.1,
                 min_reference_power: float = 0.0, lost_erle_db: float = 6.0,
                 lost_after_frames: int = 4, residual_db: float | None = None,
                 filter_erle_db: float = 6.0, confirm_frames: int = 25,
                 young_residual_db: float | None = None, tail_db: float = -30.0) -> None:
        self._min_erle = _ratio(min_erle_db)
        self._young_min_erle = _ratio(young_min_erle_db)
        self._young_frames = young_frames
        self._frames = 0  # frames judged with loud reference
        self._lost_erle = _ratio(lost_erle_db)
        self._learn_erle = _ratio(learn_erle_db)
        self._filter_erle = _ratio(filter_erle_db)
        self._confirm_frames = confirm_frames
        self._judged = 0  # frames judged, ever (never refreshed)
        self._proof_at = -(confirm_frames + 1)  # ``_judged`` at the filter's last proof
        # Unproven learning frames of the last ``confirm_frames``: (frame number, erl).
        self._unproven: deque[tuple[int, float]] = deque()
        self._talk_margin = _ratio(talk_margin_db)
        self._decay = _ratio(-erl_decay_db)
        self._min_ref = min_reference_power
        self._lost_after = lost_after_frames
        self._residual = None if residual_db is None else _ratio(residual_db)
        self._young_residual = None if young_residual_db is None else _ratio(young_residual_db)
        self._tail = _ratio(tail_db)
        self.erl: float | None = None
        """Learnt echo power per unit of the loudest recent reference frame's power."""
        self._missed = 0  # frames silenced in a row
        self.silenced_frames = 0
        """Frames silenced so far (for benchmarks and traces)."""

    def refresh(self, frames: int) -> None:
        """Judge the next ``frames`` frames of loud reference as young again (the
        filter re-converges: a new reply after a pause, a new delay)."""
        self._frames = min(self._frames, max(0, self._young_frames - frames))
        # A proof vouches for its neighbours in the same stretch of reference only:
        # across a pause (minutes, maybe) the talker over the next earcon is no echo.
        self._unproven.clear()
        self._proof_at = self._judged - self._confirm_frames - 1

    def _learn(self, erl: float, proven: bool) -> None:
        """One learning frame's echo-to-reference ratio; ``proven``: the linear filter
        took ``filter_erle_db`` out of it."""
        unproven = self._unproven
        while unproven and unproven[0][0] < self._judged - self._confirm_frames:
            unproven.popleft()
        if proven:
            self._proof_at = self._judged
            for _, earlier in unproven:  # the proof vouches for the frames just before
                erl = max(erl, earlier)
            unproven.clear()
        elif self._judged - self._proof_at > self._confirm_frames:
            unproven.append((self._judged, erl))  # kept until a proof comes, or forgotten
            return
        self.erl = erl if self.erl is None else max(erl, self.erl * self._decay)

    @property
    def young(self) -> bool:
        """Whether the next frames are judged as a young filter's (stricter)."""
        return self._frames < self._young_frames

    @property
    def lost(self) -> bool:
        """The canceller has missed the echo (less than ``lost_erle_db`` removed) for
        ``lost_after_frames`` frames in a row."""
        return self._missed >= self._lost_after

    def admit(self, mic_power: float, out_power: float, reference_power: float,
              filter_power: float | None = None) -> bool:
        """Whether the cleaned frame may pass.

        ``mic_power``: the microphone frame; ``out_power``: the canceller's output
        for it; ``reference_power``: the loudest reference frame whose echo can be
        in it (the echo path's span, with slack for a delay that moved);
        ``filter_power``: the linear filter's output before any residual echo
        suppressor (None: not known, every learning frame counts): ``erl`` is learnt
        only near frames the filter itself took ``filter_erle_db`` out of (a suppressor
        also takes power out of a talker's words while the filter is young).
        """
        self._judged += 1  # every frame judged: the proof's window is time
        if reference_power <= self._min_ref:
            return True  # nothing loud played: no echo to fear
        self._frames += 1
        # A young filter (its first ``young_frames`` of loud reference) still leaks
        # 10-15 dB of echo now and then: it must remove more before a frame passes.
        young = self._frames <= self._young_frames
        cancelled = mic_power >= (self._young_min_erle if young else self._min_erle) * out_power
        if mic_power >= self._learn_erle * out_power:
            self._learn(mic_power / reference_power,
                        filter_power is None or mic_power >= self._filter_erle * filter_power)
        if self.erl is None:
            self._missed = 0
            return True
        if cancelled:
            self._missed = 0
            residual = self._young_residual if young else self._residual
            if residual is None or out_power >= residual * self.erl * reference_power:
                return True
            # Far below the loudest echo the reference could make: what the canceller
            # left of the echo, which a louder speaker makes loud enough to sound voiced.
            # (Lower while young: with residual_db there a talker over a fresh reply was
            # heard up to a second later; with none, a second reply's residue started
            # speech on the rig.)
            self.silenced_frames += 1
            return False
        if mic_power >= self._talk_margin * self.erl * reference_power:
            self._missed = 0
            return True  # louder than any echo: someone speaks over the reply
        # Leaking (a filter still converging) is silenced; lost (the echo came
        # through almost whole) is also counted towards measuring the delay again.
        self._missed = self._missed + 1 if mic_power < self._lost_erle * out_power else 0
        self.silenced_frames += 1
        return False

    def admit_tail(self, mic_power: float, reference_power: float) -> bool:
        """Whether a microphone frame after the canceller stopped may pass: the echo's
        reverberant tail beyond the filter, which the canceller never saw.

        ``reference_power``: as for :meth:`admit` (the loudest reference frame whose
        echo can still be in it). A frame ``tail_db`` below the echo that reference
        could have made is the room's reverberation, silenced; anything louder passes
        (a user who answers the moment the reply ends: their first sounds are quieter
        than the echo was, and a stricter rule clipped them, bench_aec). Learns
        nothing and counts towards nothing but :attr:`silenced_frames`.
        """
        if self.erl is None or reference_power <= self._min_ref:
            return True
        if mic_power >= self._tail * self.erl * reference_power:
            return True
        self.silenced_frames += 1
        return False
