"""The optional VADs (capture/vadmodels.py) and the noise processor (capture/noisegain.py)
on eSpeak NG speech and room noise."""

from __future__ import annotations

import numpy as np
import pytest

from speech import compose, room_noise
from voicebot.capture.noisegain import NoiseGain
from voicebot.capture.vadmodels import VAD_KINDS, VoicedTap, make_classifier
from voicebot.config import Settings, resolve
from voicebot.errors import ConfigError

RATE = 16_000
FRAME = 480  # the segmenter's 30 ms


def frames(x: np.ndarray) -> list[bytes]:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    return [pcm[i:i + FRAME].tobytes() for i in range(0, len(pcm) - FRAME + 1, FRAME)]


@pytest.mark.parametrize("kind", VAD_KINDS)
def test_each_vad_hears_speech_and_not_noise(kind: str) -> None:
    x, truth = compose([1.0, "turn on the kitchen lights", 2.0], noise="pink", noise_dbfs=-50,
                       seed=1)
    classify = make_classifier(kind)
    verdicts = [classify(f) for f in frames(x)]
    start, end = (int(t * RATE) // FRAME for t in (truth[0].start_s, truth[0].end_s))
    # pymicro-vad answers late: ~0.3 s after speech starts and ~0.7 s after it ends.
    inside = verdicts[start + 12:end - 5]
    outside = verdicts[:start - 10] + verdicts[end + 30:]
    assert sum(inside) >= 0.6 * len(inside), kind
    assert sum(outside) <= 0.1 * len(outside), kind


def test_unknown_vad_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        make_classifier("nope")
    with pytest.raises(ConfigError):
        resolve({"vad": "nope"}, env={"XDG_CONFIG_HOME": "/nonexistent", "HOME": "/nonexistent"})
    assert Settings().vad == "webrtc"


def test_voiced_tap_reports_any_speech_since_the_last_take() -> None:
    answers = iter([False, True, False, False])
    tap = VoicedTap(lambda frame: next(answers))
    assert [tap(b""), tap(b"")] == [False, True]
    assert tap.take() is True
    assert tap.take() is False
    tap(b"")
    tap(b"")
    assert tap.take() is False


@pytest.mark.parametrize("split", [1, 159, 160, 333, 960])
def test_noise_gain_keeps_every_sample_in_order_of_arrival(split: int) -> None:
    rng = np.random.default_rng(0)
    x = room_noise("fan", RATE, -40.0, rng)
    pcm = (x * 32767).astype("<i2").tobytes()
    ng = NoiseGain(auto_gain_dbfs=0, noise_suppression=2)
    out = b"".join(ng.process(pcm[i:i + 2 * split]) for i in range(0, len(pcm), 2 * split))
    assert len(out) + ng.pending_bytes == len(pcm)
    assert len(out) % 320 == 0


def test_noise_suppression_lowers_steady_noise() -> None:
    rng = np.random.default_rng(1)
    x = room_noise("white", 3 * RATE, -40.0, rng)
    pcm = (x * 32767).astype("<i2").tobytes()
    out = np.frombuffer(NoiseGain(noise_suppression=3).process(pcm), "<i2").astype(float)
    before = np.sqrt(np.mean(np.frombuffer(pcm, "<i2")[RATE:].astype(float) ** 2))
    after = np.sqrt(np.mean(out[RATE:] ** 2))
    assert after < before / 2  # > 6 dB less once it has learnt the noise


def test_noise_gain_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        NoiseGain(auto_gain_dbfs=32)
    with pytest.raises(ConfigError):
        resolve({"noise_suppression": 5}, env={"XDG_CONFIG_HOME": "/nonexistent", "HOME": "/nonexistent"})
