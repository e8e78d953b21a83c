"""EchoCanceller offline: SpeexDSP on simulated rooms with eSpeak NG speech.

The scene (tests/capture/aec_scene.py) has 40 ms of delay the timestamps do not
see, -10 dB, reflections and a reverberant tail, and -60 dBFS noise. The reference
is pushed with its DAC times and the microphone processed with its ADC times in
40 ms blocks, as the capture thread will.
"""

from __future__ import annotations

import numpy as np
import pytest
from aec_scene import double_talk_parts, from_pcm16, reply, room_impulse_response, scene, to_pcm16
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.capture.segmenter import SegmenterConfig, SpeechStarted
from voicebot.capture.vad import UtteranceDetector
from voicebot.capture.aec import AecConfig, EchoCanceller, aec_available, echo_canceller_for
from voicebot.config import ECHO_START_FRAMES, resolve
from voicebot.errors import ConfigError

pytestmark = pytest.mark.skipif(not aec_available(), reason="libspeexdsp1 is not installed")

RATE = 16_000
BLOCK = 640
T0 = 2000.0


def _run(aec: EchoCanceller, mic: np.ndarray, ref: np.ndarray | None,
         block: int = BLOCK) -> bytes:
    m = to_pcm16(mic)
    r = to_pcm16(ref) if ref is not None else None
    out = bytearray()
    for i in range(0, len(m), 2 * block):
        at = T0 + i / 2 / RATE
        if r is not None:
            aec.push_reference(r[i:i + 2 * block], at)
        out += aec.process(m[i:i + 2 * block], at)
    return bytes(out)


def _starts(pcm: bytes, config: SegmenterConfig | None = None) -> list[float]:
    det = UtteranceDetector(config)
    times = []
    for i in range(0, len(pcm), 2 * BLOCK):
        if any(isinstance(e, SpeechStarted) for e in det.feed(pcm[i:i + 2 * BLOCK])):
            times.append(det.position / RATE)
    return times


def test_echo_only_is_cancelled_and_never_heard_as_speech() -> None:
    ref = reply(12.0)
    sc = scene(ref)
    assert _starts(to_pcm16(sc.mic)), "control: the raw echo is speech to the detector"
    aec = EchoCanceller()
    out = from_pcm16(_run(aec, sc.mic, ref))
    assert _starts(to_pcm16(out)) == []
    n = len(out)
    tail = slice(3 * RATE, n)  # after the first reply's warm-up
    erle = 10 * np.log10(np.sum(sc.mic[tail] ** 2) / np.sum(out[tail] ** 2))
    assert erle >= 15, f"ERLE {erle:.1f} dB"
    assert aec.trusted and abs((aec.delay_samples or 0) - 640) <= 8


def test_a_talker_over_the_reply_is_detected() -> None:
    ref = reply(16.0)
    sc = scene(ref, near=double_talk_parts(16.0))
    starts = _starts(_run(EchoCanceller(), sc.mic, ref))
    for spoken in sc.talk:
        hits = [t for t in starts if spoken.start_s <= t <= spoken.end_s]
        assert hits, f"{spoken.text!r} at {spoken.start_s:.2f} s not detected ({starts})"
        assert hits[0] - spoken.start_s <= 0.4
    assert len(starts) == len(sc.talk)


def test_speech_over_the_reply_is_described_as_the_guard_judged_it() -> None:
    """``describe_recent``: for a ``-v`` log when speech starts over a reply. A talker's
    frames got through the guard only by its rules: the canceller removed 10 dB or
    more (grown up), or the microphone stood 2 dB over the loudest echo expected."""
    ref = reply(16.0)
    sc = scene(ref, near=double_talk_parts(16.0))
    aec = EchoCanceller()
    assert aec.describe_recent() == ""
    talker = sc.talk[0]
    upto = int((talker.start_s + 0.3) * RATE)
    _run(aec, sc.mic[:upto], ref[:upto])
    line = aec.describe_recent(10)
    assert "delay 40." in line and "last 10 frames" in line, line
    frames = line.rsplit("): ", 1)[1].split()
    passed = [f for f in frames if not f.endswith("x")]
    assert len(passed) >= 5, line  # the talker's
    for frame in passed:
        removed, over = frame.split("/")
        assert float(removed) >= 10 or float(over) >= 2, line


@pytest.mark.parametrize("loudness", [4.0, 6.3])  # the echo +2 and +6 dB above the scene's
def test_a_loud_speakers_echo_is_never_heard_as_speech(loudness: float) -> None:
    """Replies of 8 s with 2 s between them, the echo 12 and 16 dB louder than the
    scene's -10 dB (a speaker turned up, a microphone beside it), with the start
    trigger chat uses with echo cancellation: what the canceller leaves of the echo
    (its reverberant tail beyond the filter, ~28 dB down) would sound voiced; the guard's
    residue rule keeps it from the VAD. The control, without that rule, starts."""
    base = reply(40.0)
    ref = np.concatenate([part for i in range(0, len(base), 8 * RATE)
                          for part in (base[i:i + 8 * RATE], np.zeros(2 * RATE, np.float32))])
    mic = scene(ref, rir=loudness * room_impulse_response()).mic
    trigger = SegmenterConfig(start_voiced_frames=ECHO_START_FRAMES[0],
                              start_window_frames=ECHO_START_FRAMES[1])
    used = _starts(_run(EchoCanceller(), mic, ref), trigger)
    assert used == []
    control = _starts(_run(EchoCanceller(AecConfig(guard_residual_db=None)), mic, ref), trigger)
    assert control, "control: without the residue rule the echo's residue starts speech"


@pytest.mark.parametrize("voice", ["en-us", "en-us+f2"])
def test_a_question_over_the_wake_earcon_is_not_learnt_as_echo(voice: str) -> None:
    """The kiosk: "hey jarvis, what time is it" in one breath, the wake earcon played
    over the question, no echo at all (headphones; the rig without its loopback). The
    residual echo suppressor takes 15 dB or more out of some of the talker's frames
    over the fresh filter; the guard must not learn the talker as the echo from those
    (it then silenced the question's quieter words until the utterance ended: the rig
    sent "what time" for "what time is it"). The control learns from them."""
    from speech import compose

    from voicebot.kiosk.earcons import synthesize

    x, truth = compose([1.0, "hey jarvis,", 0.05, "what time is it?", 1.0], RATE,
                       voice=voice, noise="fan", noise_dbfs=-60.0, seed=1)
    m = to_pcm16(x)
    earcon = to_pcm16(synthesize("wake", RATE))
    q0 = int(truth[1].start_s * RATE)
    q1 = q0 + (int(truth[1].end_s * RATE) - q0) // 160 * 160

    def silenced(config: AecConfig, after_s: float) -> int:
        aec = EchoCanceller(config)
        aec.push_reference(earcon, T0 + truth[0].end_s + after_s)
        out = b"".join(aec.process(m[i:i + 2 * 960], T0 + i / 2 / RATE)
                       for i in range(0, len(m), 2 * 960))
        o = np.frombuffer(out, "<i2")[q0:q1].reshape(-1, 160)
        i = np.frombuffer(m, "<i2")[q0:q1].reshape(-1, 160)
        return int(((o == 0).all(axis=1) & (i != 0).any(axis=1)).sum())

    kiosk = AecConfig(warmup_silence=False)
    for after_s in (0.2, 0.3, 0.4):
        assert silenced(kiosk, after_s) == 0, after_s
    control = AecConfig(warmup_silence=False, guard_filter_erle_db=0.0)
    assert max(silenced(control, after_s) for after_s in (0.2, 0.3, 0.4)) > 0, "control"


def test_filtered_is_the_linear_filters_own_output() -> None:
    """``cancel_frames(..., filtered=)`` gives what the adaptive filter made before the
    residual echo suppressor: sample for sample what a canceller without the
    suppressor outputs (the suppressor reads the filter's state, never changes it)."""
    from voicebot.capture.aec_speex import SpeexEchoCanceller

    ref = reply(3.0)
    m = np.frombuffer(to_pcm16(scene(ref).mic), "<i2")
    r = np.frombuffer(to_pcm16(ref), "<i2")
    n = min(len(m), len(r)) // 160 * 160
    mic, far = m[:n].reshape(-1, 160).copy(), r[:n].reshape(-1, 160).copy()
    with_res, plain = SpeexEchoCanceller(160, 1024), SpeexEchoCanceller(160, 1024, suppress=False)
    out, filtered, out_plain = (np.zeros_like(mic) for _ in range(3))
    with_res.cancel_frames(mic, far, out, filtered=filtered)
    plain.cancel_frames(mic, far, out_plain)
    assert np.array_equal(filtered, out_plain)
    assert not np.array_equal(out, out_plain)  # the suppressor did work
    again = np.zeros_like(mic)
    SpeexEchoCanceller(160, 1024, suppress=False).cancel_frames(mic, far, out_plain,
                                                                filtered=again)
    assert np.array_equal(again, out_plain)  # no suppressor: the output itself
    with_res.close()
    plain.close()


def test_without_reference_the_input_passes_untouched_at_no_cost() -> None:
    x = to_pcm16(np.random.default_rng(1).normal(0, 0.1, RATE).astype(np.float32))
    aec = EchoCanceller()
    out = b"".join(aec.process(x[i:i + 998], T0 + i / 2 / RATE) for i in range(0, len(x), 998))
    assert out == x and aec.processed_samples == 0 and not aec.active


@given(st.lists(st.integers(1, 1500), min_size=1, max_size=20))
@settings(max_examples=25, deadline=None)
def test_every_sample_comes_out_once_in_order(blocks: list[int]) -> None:
    """Any block sizes, reference on and off: output = input length minus what is pending."""
    aec = EchoCanceller(AecConfig(suppress=False))
    rng = np.random.default_rng(len(blocks))
    total = sum(blocks)
    ref = to_pcm16(rng.normal(0, 0.1, total).astype(np.float32))
    aec.push_reference(ref, T0 + 0.01)  # reference from 10 ms in
    out, pos = 0, 0
    for n in blocks:
        pcm = to_pcm16(rng.normal(0, 0.01, n).astype(np.float32))
        out += len(aec.process(pcm, T0 + pos / RATE)) // 2
        pos += n
    assert out + aec.pending_samples == total
    assert aec.pending_samples < aec.config.frame_samples


def test_modes() -> None:
    assert echo_canceller_for("off", speaker=True) is None
    assert echo_canceller_for("auto", speaker=False) is None
    assert isinstance(echo_canceller_for("auto", speaker=True), EchoCanceller)
    assert isinstance(echo_canceller_for("on", speaker=False), EchoCanceller)
    with pytest.raises(ConfigError):
        echo_canceller_for("maybe", speaker=True)
    with pytest.raises(ConfigError):
        AecConfig(frame_ms=15)
    with pytest.raises(ConfigError):
        AecConfig(guard_residual_db=3.0)


def test_setting(tmp_path) -> None:
    env = {"HOME": str(tmp_path)}
    assert resolve({}, env=env).aec == "auto"
    cfg = tmp_path / "c.toml"
    cfg.write_text('aec = "off"\n')
    assert resolve({}, config_path=str(cfg), env=env).aec == "off"
    with pytest.raises(ConfigError, match="aec must be"):
        resolve({"aec": "sometimes"}, env=env)


def _moved(ref: np.ndarray, at_s: float, gap_ms: int, extra_ms: int,
           near: list[str | float] | None = None) -> tuple[np.ndarray, list]:
    """The scene's microphone, except that from ``at_s`` the echo comes ``extra_ms``
    later (or earlier), after ``gap_ms`` of exact silence: a loopback that missed
    its deadline, or capture samples lost."""
    sc = scene(ref, near=near)
    moved = scene(ref, rir=room_impulse_response(delay_ms=40 + extra_ms), near=near)
    k, g = int(at_s * RATE), gap_ms * RATE // 1000
    mic = np.concatenate([sc.mic[:k], moved.mic[k:]])
    mic[k:k + g] = 0
    return mic, sc.talk


@pytest.mark.parametrize(("extra_ms", "gap_ms", "at_s"),
                         [(20, 60, 4.0), (60, 60, 6.3), (-20, 0, 4.0), (0, 120, 6.3)])
def test_a_delay_that_moves_is_never_heard_as_speech(extra_ms: int, gap_ms: int,
                                                     at_s: float) -> None:
    ref = reply(12.0)
    mic, _ = _moved(ref, at_s, gap_ms, extra_ms)
    if extra_ms:  # (a dropout alone, the filter kept, is no trouble even without the guard)
        control = EchoCanceller(AecConfig(guard=False))
        assert _starts(_run(control, mic, ref, block=960)), "control: without the guard it is"
    aec = EchoCanceller()
    out = from_pcm16(_run(aec, mic, ref, block=960))
    assert _starts(to_pcm16(out)) == []
    assert abs((aec.delay_samples or 0) - (40 + extra_ms) * RATE // 1000) <= 8
    later = slice(int((at_s + 1.5) * RATE), len(out))  # measured again and re-adapted
    erle = 10 * np.log10(np.sum(mic[later] ** 2) / np.sum(out[later] ** 2))
    assert erle >= 15, f"ERLE {erle:.1f} dB"


def _two_reply_reference(second_s: float) -> tuple[np.ndarray, int]:
    """A 6 s reply, 2 s of silence, then ``second_s`` of the same story's next words:
    the reference, and where the second reply starts."""
    first = reply(max(12.0, 7.0 + second_s))
    n1, gap = 6 * RATE, 2 * RATE
    ref = np.zeros(n1 + gap + int(second_s * RATE), np.float32)
    ref[:n1], ref[n1 + gap:] = first[:n1], first[n1:n1 + len(ref) - n1 - gap]
    return ref, n1 + gap


def _two_replies(aec: EchoCanceller, off_samples: int) -> bytes:
    """Two replies 2 s apart, the second one's reference pushed ``off_samples`` off
    its true time; what the canceller makes of the microphone."""
    ref, second = _two_reply_reference(5.0)
    n1 = second - 2 * RATE
    m, r = to_pcm16(scene(ref).mic), to_pcm16(ref)
    out, step = bytearray(), 2 * 960
    for i in range(0, len(m), step):
        at = T0 + i / 2 / RATE
        if any(r[i:i + step]):
            aec.push_reference(r[i:i + step], at + (off_samples / RATE if i // 2 >= n1 else 0))
        out += aec.process(m[i:i + step], at)
    return bytes(out)


@pytest.mark.parametrize("off_samples", [1, 2, -2])
def test_a_reply_placed_a_sample_off_the_last_is_never_heard_as_speech(off_samples: int) -> None:
    """A speaker's DAC times jitter from stream to stream. The filter learnt the
    first reply's placement: on the second it removes 15-20 dB less echo for a
    second or more, which, guarded as a grown-up filter is, the VAD heard as
    speech. The guard judges the first second of every reply as a young filter's."""
    assert _starts(_two_replies(EchoCanceller(), off_samples)) == []
    if off_samples == 2:
        control = EchoCanceller(AecConfig(guard_fresh_ms=0))
        assert _starts(_two_replies(control, 2)), "control: without it the echo is heard"


def _drifting_second_reply(jump_ms: float, drift_ms: float, drift_s: float
                           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Two replies 2 s apart; for the second the echo comes ``jump_ms`` later, and
    then slides ``drift_ms`` further over ``drift_s`` (a sound server's loopback
    that missed a deadline and re-syncs by resampling: on the rig the delay moved
    by 10.75 ms between two replies, and the filter then removed only 5-15 dB for
    ~0.5 s). The microphone, the reference, where the second reply starts."""
    ref, k = _two_reply_reference(6.0)
    delay_ms = np.full(len(ref), 40.0)
    m = int(drift_s * RATE)
    delay_ms[k:] += jump_ms + drift_ms
    delay_ms[k:k + m] -= drift_ms - np.linspace(0, drift_ms, m)
    echo = np.convolve(ref, room_impulse_response(delay_ms=0))[:len(ref)]
    t = np.arange(len(ref))
    mic = np.interp(t - delay_ms * RATE / 1000, t, echo).astype(np.float32)
    mic += np.random.default_rng(0).normal(0, 1e-3, len(mic)).astype(np.float32)
    return mic, ref, k


@pytest.mark.parametrize(("jump_ms", "drift_ms"), [(-10.75, 2.0), (10.0, 3.0)])
def test_after_the_delay_is_measured_again_the_guard_is_strict(jump_ms: float,
                                                             drift_ms: float) -> None:
    """While the filter re-converges on a moved echo path it removes 10-20 dB now and
    then: enough for a grown-up filter's guard (10 dB) to pass, and loud enough for
    the VAD (on the rig: a reply cut 1.4 s in by its own echo). For ``guard_fresh_ms``
    after each new delay the guard asks 20 dB, as for a new reply."""
    mic, ref, second = _drifting_second_reply(jump_ms, drift_ms, 1.0 + abs(drift_ms) / 4)

    def leaky_frames(aec: EchoCanceller) -> int:
        m, r = to_pcm16(mic), to_pcm16(ref)
        out, step, measured, delay = bytearray(), 2 * 960, [], None
        for i in range(0, len(m), step):
            at = T0 + i / 2 / RATE
            if any(r[i:i + step]):
                aec.push_reference(r[i:i + step], at)
            out += aec.process(m[i:i + step], at)
            if aec.delay_samples != delay and i // 2 > second:
                measured.append(i // 2)
            delay = aec.delay_samples
        assert measured, "the moved delay was measured again"
        x = np.frombuffer(m, np.int16).astype(np.float64)
        y = np.frombuffer(bytes(out), np.int16).astype(np.float64)
        # Frames passed that lost 10-20 dB, in the second after a new delay (a frame
        # that lost less passes only when louder than any echo could be: another rule).
        leaky = 0
        for start in measured:
            for f in range(start, min(len(y), start + RATE) - 320, 320):
                mic_power, out_power = np.sum(x[f:f + 320] ** 2), np.sum(y[f:f + 320] ** 2)
                if out_power > 0 and mic_power > 1e6 and 10 * out_power <= mic_power < 100 * out_power:
                    leaky += 1
        return leaky

    assert leaky_frames(EchoCanceller()) == 0
    assert leaky_frames(EchoCanceller(AecConfig(guard_fresh_ms=0))) > 0, "control"


def test_a_talker_is_still_detected_while_the_echo_is_lost() -> None:
    ref = reply(12.0)
    mic, talk = _moved(ref, 6.3, 60, 20, near=double_talk_parts(12.0))
    starts = _starts(_run(EchoCanceller(), mic, ref, block=960))
    assert len(starts) == len(talk), (starts, [s.start_s for s in talk])
    for spoken, t in zip(talk, starts):
        assert spoken.start_s <= t <= spoken.start_s + 0.4, (spoken.text, spoken.start_s, t)


def test_a_stage_moved_to_another_source_passes_through_then_starts_afresh() -> None:
    """While the sound server has the stream on another source (the speaker's own
    monitor, say), the canceller must learn nothing there; back home it starts over."""
    from voicebot.capture.echo import EchoStage

    ref = reply(6.0)
    m, r = to_pcm16(scene(ref).mic), to_pcm16(ref)
    drained: list[int] = []

    class Played:
        def __init__(self) -> None:
            self.i = 0

        def drain(self, push) -> None:  # type: ignore[no-untyped-def]
            chunk = r[self.i:self.i + 2 * BLOCK]
            drained.append(len(chunk))
            push(chunk, T0 + self.i / 2 / RATE)
            self.i += 2 * BLOCK

    first = EchoCanceller()
    stage = EchoStage(first, [Played()])
    half = len(m) // 2 // (2 * BLOCK) * (2 * BLOCK)
    for i in range(0, half, 2 * BLOCK):
        stage.process(m[i:i + 2 * BLOCK], T0 + i / 2 / RATE)
    learnt_samples = first.processed_samples
    assert learnt_samples > 0
    stage.set_elsewhere(True)
    monitor = r[half:half + 20 * 2 * BLOCK]  # what the monitor hears: the reference itself
    for i in range(0, len(monitor), 2 * BLOCK):
        block = monitor[i:i + 2 * BLOCK]
        assert stage.process(block, T0 + (half + i) / 2 / RATE) == block  # untouched
        assert stage.heard(block) == block
    assert first.processed_samples == learnt_samples  # nothing learnt there
    assert len(drained) == half // (2 * BLOCK) + 20  # but what played was drained
    stage.set_elsewhere(False)
    stage.process(m[:2 * BLOCK], T0 + 10.0)
    assert stage.canceller is not first and not stage.canceller.trusted
    assert stage.canceller.processed_samples <= 2 * BLOCK
    stage.close()
