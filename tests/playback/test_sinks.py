"""WavSink, NullSink and the odd-byte joiner (no audio device needed)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import API_SAMPLE_RATE
from voicebot.errors import InputFileError
from voicebot.playback.sinks import NullSink, Sink, WavSink
from voicebot.playback.sinks import Pcm16Joiner

PCM = (np.random.default_rng(3).integers(-32768, 32767, 301, dtype=np.int16)
       .astype("<i2").tobytes())


def _joined(chunks: list[bytes]) -> bytes:
    j = Pcm16Joiner()
    out = b"".join(j.whole(c) for c in chunks)
    return out


@pytest.mark.parametrize("split", ["whole", "bytewise", "every_offset"])
def test_joiner_yields_whole_samples_in_order(split: str) -> None:
    if split == "whole":
        cases = [[PCM]]
    elif split == "bytewise":
        cases = [[PCM[i:i + 1] for i in range(len(PCM))]]
    else:
        cases = [[PCM[:c], PCM[c:]] for c in range(len(PCM) + 1)]
    for chunks in cases:
        j = Pcm16Joiner()
        parts = [j.whole(c) for c in chunks]
        assert all(len(p) % 2 == 0 for p in parts)
        assert b"".join(parts) == PCM


def _read_wav(path: Path) -> tuple[bytes, int, int, int]:
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getnchannels(), w.getsampwidth()


def test_wav_sink_writes_exactly_the_received_audio(tmp_path: Path) -> None:
    path = tmp_path / "reply.wav"
    sink = WavSink(path)
    assert isinstance(sink, Sink)
    odd_cut = 77  # an odd split: the half sample must be carried, not padded
    sink.push_pcm16(PCM[:odd_cut])
    sink.push_pcm16(PCM[odd_cut:])
    sink.end_of_stream()
    asyncio.run(sink.drained())
    assert sink.frames_played == sink.frames_received == len(PCM) // 2
    # valid while still open (header patched after each write), and after close
    assert _read_wav(path) == (PCM, API_SAMPLE_RATE, 1, 2)
    sink.close()
    assert _read_wav(path) == (PCM, API_SAMPLE_RATE, 1, 2)


def test_wav_sink_appends_replies(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    with WavSink(path) as sink:
        sink.push_pcm16(PCM[:100])
        sink.end_of_stream()
        sink.push_pcm16(PCM[100:200])
        sink.cancel()
        assert sink.frames_received == 50 and sink.frames_total == 100
    assert _read_wav(path)[0] == PCM[:200]


def test_wav_sink_error_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "x.wav"
    with pytest.raises(InputFileError) as info:
        WavSink(target)
    assert str(target) in str(info.value) and "\n" not in str(info.value)


def test_null_sink_counts() -> None:
    sink = NullSink()
    assert isinstance(sink, Sink)
    for i in range(0, len(PCM), 5):
        sink.push_pcm16(PCM[i:i + 5])
    sink.end_of_stream()
    asyncio.run(sink.drained())
    assert sink.frames_played == len(PCM) // 2
    sink.push_pcm16(PCM[:10])           # the next reply starts from zero
    assert sink.frames_received == 5
