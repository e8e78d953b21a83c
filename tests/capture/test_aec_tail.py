"""EchoCanceller offline: the room's reverberation after a reply ends.

The canceller stops ``filter_ms`` and a frame after the last reference; a room's
reverberant tail lasts longer, and with a loud speaker webrtcvad heard it as
speech ~0.24 s after the reply's end. The guard judges the next
``guard_tail_ms`` by level (``EchoGuard.admit_tail``). Scenes as in test_aec.py
(tests/capture/aec_scene.py: 40 ms of hidden delay, reflections, RT60 0.25 s).
"""

from __future__ import annotations

import numpy as np
import pytest
from aec_scene import reply, room_impulse_response, scene, to_pcm16
from speech import compose

from voicebot.capture.aec import AecConfig, EchoCanceller, aec_available
from voicebot.capture.segmenter import SegmenterConfig, SpeechStarted
from voicebot.capture.vad import UtteranceDetector
from voicebot.config import ECHO_START_FRAMES
from voicebot.errors import ConfigError

pytestmark = pytest.mark.skipif(not aec_available(), reason="libspeexdsp1 is not installed")

RATE = 16_000
STEP = 960  # chat's capture block: 60 ms
T0 = 2000.0
REPLY_S, GAP_S = 6, 2


def _two_replies() -> np.ndarray:
    """Two 6 s replies with 2 s of silence after each (the reference)."""
    base = reply(2.0 * REPLY_S)
    n, gap = REPLY_S * RATE, np.zeros(GAP_S * RATE, np.float32)
    return np.concatenate([base[:n], gap, base[n:2 * n], gap])


def _starts(aec: EchoCanceller, mic: np.ndarray, ref: np.ndarray) -> list[float]:
    """Chat's way: the reference pushed only while a reply plays, 60 ms blocks, the
    start trigger used with echo cancellation; when speech started (s)."""
    m, r = to_pcm16(mic), to_pcm16(ref)
    det = UtteranceDetector(SegmenterConfig(start_voiced_frames=ECHO_START_FRAMES[0],
                                            start_window_frames=ECHO_START_FRAMES[1]))
    starts = []
    for i in range(0, len(m), 2 * STEP):
        at = T0 + i / 2 / RATE
        if any(r[i:i + 2 * STEP]):
            aec.push_reference(r[i:i + 2 * STEP], at)
        if any(isinstance(e, SpeechStarted) for e in det.feed(aec.process(m[i:i + 2 * STEP], at))):
            starts.append(det.position / RATE)
    return starts


def test_a_loud_rooms_reverberation_after_a_reply_is_never_heard_as_speech() -> None:
    ref = _two_replies()
    mic = scene(ref, rir=6.3 * room_impulse_response()).mic  # a speaker 16 dB louder
    assert _starts(EchoCanceller(), mic, ref) == []
    control = _starts(EchoCanceller(AecConfig(guard_tail_ms=0)), mic, ref)
    assert control, "control: without the tail rule the reverberation starts speech"
    assert all(0 < t - REPLY_S < 0.4 for t in control), control  # just after the reply


@pytest.mark.parametrize("loudness", [1.0, 4.0])  # the rig's -10 dB, and 12 dB louder
@pytest.mark.parametrize("after_s", [0.0, 0.1])
def test_a_user_who_answers_the_moment_a_reply_ends_is_heard_at_once(loudness: float,
                                                                    after_s: float) -> None:
    """People answer ~0.2 s after the other stops, often sooner: the tail rule must
    not hold back their first sounds, quieter than the reply's echo was."""
    ref = _two_replies()
    said, truth = compose(["excuse me"], RATE, voice="en-us+f3")
    near = np.zeros(len(ref), np.float32)
    at = int((REPLY_S + after_s) * RATE)
    near[at:at + len(said)] = 0.5 * said
    mic = scene(ref, rir=loudness * room_impulse_response()).mic + near
    onset = REPLY_S + after_s + truth[0].start_s
    starts = _starts(EchoCanceller(), mic, ref)
    assert len(starts) == 1 and 0 < starts[0] - onset <= 0.3, (starts, onset)


@pytest.mark.parametrize("bad", [{"guard_tail_ms": -1}, {"guard_tail_db": 0.0}])
def test_bad_tail_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="guard_tail"):
        AecConfig(**bad)  # type: ignore[arg-type]


def test_the_tail_is_judged_then_passed_untouched() -> None:
    """Right after a reply the guard judges the microphone (and a ``-v`` log can say
    how: nothing removed, how far over the echo expected); ``guard_tail_ms`` later the
    input passes as it is, unjudged."""
    ref = _two_replies()[: (REPLY_S + GAP_S) * RATE]
    mic = scene(ref).mic
    aec = EchoCanceller()
    m, r = to_pcm16(mic), to_pcm16(ref)
    judged: list[tuple[float, bool, bool]] = []  # (block start s, ran, judged)
    for i in range(0, len(m), 2 * STEP):
        at = T0 + i / 2 / RATE
        if any(r[i:i + 2 * STEP]):
            aec.push_reference(r[i:i + 2 * STEP], at)
        out = aec.process(m[i:i + 2 * STEP], at)
        judged.append((i / 2 / RATE, aec.active, aec.judging))
        if aec.judging and not aec.active:
            frames = aec.describe_recent(3).rsplit("): ", 1)[1].split()
            assert all(f.startswith("0/") for f in frames), frames  # the canceller did not run
        if not aec.judging:
            assert out == m[i:i + 2 * STEP]
    # (Pauses inside the reply are tails too: exact silence is not reference.)
    tail = [t for t, ran, seen in judged if seen and not ran and t > REPLY_S - 0.1]
    # The reference ends at 6 s; its echo 40 ms later; the canceller runs 84 ms past
    # that (the filter and a frame), the guard 200 ms more: a block either side.
    assert tail and REPLY_S < tail[0] < REPLY_S + 0.2 and tail[-1] < REPLY_S + 0.45, tail
    assert not judged[-1][2]
