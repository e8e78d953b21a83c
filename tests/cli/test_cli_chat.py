"""``voicebot chat --input FILE``: a file stands in for the microphone.

The file is espeak speech with known utterance boundaries (tests/speech.py); each
utterance must become one request carrying that speech, and each reply one WAV.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from cli_harness import ThreadedScriptedServer, json_lines, read_wav_pcm16, run_voicebot
from cli_replies import SpokenReply, odd_pieces, tone_pcm16
from speech import Spoken, compose
from sse_server import Reply
from vdev import write_wav

from voicebot.audio import decode_wav

RATE = 16_000


@pytest.fixture(scope="module")
def two_utterances(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spoken]]:
    said, truth = compose([0.5, "what time is it", 1.5, "tell me a joke", 1.2], RATE)
    path = tmp_path_factory.mktemp("chat") / "two.wav"
    write_wav(str(path), said, RATE)
    return path, truth


def _replies() -> list[SpokenReply]:
    return [SpokenReply(["It is noon."], odd_pieces(tone_pcm16(0.5, freq_hz=330), 3001)),
            SpokenReply(["Why did the ", "chicken cross?"],
                        odd_pieces(tone_pcm16(0.8, freq_hz=550), 5003))]


def _sent_audio_s(request_json: dict) -> float:
    part = request_json["messages"][-1]["content"][0]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    samples, info = decode_wav(base64.b64decode(part["input_audio"]["data"]))
    return len(samples) / info.sample_rate


def test_two_utterances_two_requests_two_wavs(scripted: ThreadedScriptedServer, home: Path,
                                              tmp_path: Path, two_utterances) -> None:
    path, truth = two_utterances
    replies = _replies()
    scripted.reply(*(Reply(pieces=[r.body()]) for r in replies))
    out_dir = tmp_path / "replies"
    proc = run_voicebot(["chat", "--input", str(path), "--fast", "--output-dir", str(out_dir),
                         "--no-play", "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr

    assert len(scripted.requests) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == ["reply-001.wav", "reply-002.wav"]
    for i, reply in enumerate(replies):
        assert read_wav_pcm16(out_dir / f"reply-{i + 1:03d}.wav") == (reply.pcm, 24_000, 1, 2)
        # Each request carries its utterance: at least the speech, plus pre-roll and
        # trailing silence, and never the other utterance (1.5 s of silence between).
        spoken_s = truth[i].end_s - truth[i].start_s
        assert spoken_s <= _sent_audio_s(scripted.requests[i].json()) < spoken_s + 1.4
    # The second request carries the history: the first exchange, then the new speech.
    roles = [m["role"] for m in scripted.requests[1].json()["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["you", "assistant", "you", "assistant"]
    assert lines[1] == "assistant: " + replies[0].text
    assert lines[3] == "assistant: " + replies[1].text
    assert proc.stderr == ""


def test_max_turns_stops_after_one(scripted: ThreadedScriptedServer, home: Path,
                                   tmp_path: Path, two_utterances) -> None:
    path, truth = two_utterances
    replies = _replies()
    scripted.reply(*(Reply(pieces=[r.body()]) for r in replies))
    out_dir = tmp_path / "replies"
    proc = run_voicebot(["chat", "--input", str(path), "--fast", "--max-turns", "1",
                         "--output-dir", str(out_dir), "--no-play", "--json",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    assert len(scripted.requests) == 1
    assert [p.name for p in out_dir.iterdir()] == ["reply-001.wav"]
    events = json_lines(proc.stdout)
    assert [e["type"] for e in events].count("turn.done") == 1
    [utterance] = [e for e in events if e["type"] == "utterance"]
    assert utterance["start_s"] <= truth[0].start_s < truth[0].end_s <= utterance["end_s"]


def test_input_file_is_paced_in_real_time_without_fast(scripted: ThreadedScriptedServer,
                                                       home: Path, tmp_path: Path) -> None:
    said, _ = compose([0.3, "hello there", 0.9], RATE)
    path = tmp_path / "short.wav"
    write_wav(str(path), said, RATE)
    duration_s = len(said) / RATE
    scripted.reply(Reply(pieces=[_replies()[0].body()]))
    started = time.monotonic()
    proc = run_voicebot(["chat", "--input", str(path), "--no-play",
                         "--base-url", scripted.base_url], home)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert len(scripted.requests) == 1
    assert elapsed >= duration_s, f"a {duration_s:.2f} s file was read in {elapsed:.2f} s"


def test_a_failed_turn_does_not_end_the_conversation(scripted: ThreadedScriptedServer,
                                                     home: Path, tmp_path: Path,
                                                     two_utterances) -> None:
    path, _ = two_utterances
    reply = _replies()[1]
    scripted.reply(Reply(400, pieces=[b'{"error": {"message": "audio too quiet"}}'],
                         chunked=False), Reply(pieces=[reply.body()]))
    out_dir = tmp_path / "replies"
    proc = run_voicebot(["chat", "--input", str(path), "--fast", "--output-dir", str(out_dir),
                         "--no-play", "--base-url", scripted.base_url], home)
    assert proc.returncode == 4  # the conversation went on, but not everything succeeded
    assert len(scripted.requests) == 2
    assert [line for line in proc.stderr.splitlines() if "error" in line] == [
        "voicebot: error: server answered 400: audio too quiet"]
    assert read_wav_pcm16(out_dir / "reply-002.wav")[0] == reply.pcm
    # The failed turn had no audio: no empty WAV is left behind for it.
    assert not (out_dir / "reply-001.wav").exists()
