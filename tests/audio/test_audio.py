from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from voicebot.audio import decode_wav, downmix, encode_wav, float_to_pcm16, pcm16_to_float, resample
from voicebot.audio.files import decode_audio_bytes, read_audio_file
from voicebot.errors import InputFileError


@given(st.lists(st.integers(-32768, 32767), max_size=500), st.sampled_from([8000, 16000, 24000]))
def test_wav_round_trip_is_exact(ints: list[int], rate: int) -> None:
    pcm = np.array(ints, dtype="<i2").tobytes()
    samples, info = decode_wav(encode_wav(pcm, rate))
    assert info.sample_rate == rate and info.channels == 1
    assert float_to_pcm16(samples[:, 0]) == pcm


def test_pcm_float_clips_instead_of_wrapping() -> None:
    assert np.frombuffer(float_to_pcm16(np.array([1.5, -1.5], np.float32)), "<i2").tolist() == [32767, -32768]
    assert pcm16_to_float(b"\x00\x80").tolist() == [-1.0]


def test_downmix_averages_channels() -> None:
    block = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    assert downmix(block).tolist() == [0.5, 0.5]


def test_resample_keeps_duration_and_tone() -> None:
    rate_in, rate_out = 24000, 48000
    t = np.arange(rate_in) / rate_in
    y = resample(np.sin(2 * np.pi * 440 * t).astype(np.float32), rate_in, rate_out)
    assert len(y) == rate_out
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * rate_out / len(y)
    assert abs(peak_hz - 440) < 2


def test_stereo_24bit_wav_decodes(tmp_path) -> None:
    import wave
    path = tmp_path / "s24.wav"
    frames = np.array([[0x123456, -0x123456]] * 10, dtype=np.int32)
    raw = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in frames.ravel())
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(3)
        w.setframerate(44100)
        w.writeframes(raw)
    samples, rate = read_audio_file(path)
    assert rate == 44100 and samples.shape == (10,)
    assert np.allclose(samples, 0.0)


def test_missing_and_garbage_files_name_the_file(tmp_path) -> None:
    with pytest.raises(InputFileError, match="nope.wav: no such file"):
        read_audio_file(tmp_path / "nope.wav")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(InputFileError, match="bad.mp3"):
        read_audio_file(bad)


def test_mp3_decodes_through_ffmpeg(tmp_path) -> None:
    import subprocess
    wav = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    wav.write_bytes(encode_wav(float_to_pcm16(0.5 * np.sin(2 * np.pi * 300 * t)), 16000))
    mp3 = tmp_path / "tone.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    samples, rate = decode_audio_bytes(mp3.read_bytes(), "mp3")
    assert rate == 16000 and abs(len(samples) - 16000) < 2000
    assert 0.3 < np.abs(samples).max() < 0.6
