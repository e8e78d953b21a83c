"""Devices that vanish and come back, on the PipeWire rig, with ``voicebot chat``.

A conversation runs (``chat --json`` on the virtual microphone and speaker, a test
server answering); mid-conversation the rig is broken and mended:

- the microphone's null sink is unloaded and loaded again (same name): WirePlumber
  moves capture to the fallback source meanwhile (the speaker's monitor);
- the speaker's null sink likewise (its fallback is the microphone's sink);
- the whole sound server is stopped and started again.

Each time the conversation says ``device`` ``lost`` then ``back`` and answers the
next utterance (eSpeak NG speech played into the microphone: the ground truth is
what the server received) without a restart.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soxr
from procs import child_env, json_events, until
from replyserver import ReplyServer, marked_reply
from rig import load_sink, restore_rig, stop_sound_server, unload_sink
from signals import best_lag, describe_mismatch
from speech import compose, synth
from vdev import MIC_SINK, SPEAKER_SINK, SpeakerRecorder, play_into_mic, write_wav

from voicebot.audio import decode_wav, float_to_pcm16

VOICEBOT = [sys.executable, "-m", "voicebot"]
REPLY_TEXT = "All right."

Events = queue.Queue[dict | None]


def _stderr(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    proc.stderr.seek(0)
    return proc.stderr.read()


def _without_alsa_noise(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("Expression "))


def _device(kind: str, state: str) -> Callable[[dict], bool]:
    return lambda e: e["type"] == "device" and e["kind"] == kind and e["state"] == state


def _turn_done(turn: int) -> Callable[[dict], bool]:
    return lambda e: e["type"] == "turn.done" and e["turn"] == turn


def _said(tmp_path, name: str, text: str) -> tuple[str, np.ndarray]:
    samples, truth = compose([0.3, text, 0.3], 16_000)
    path = str(tmp_path / f"{name}.wav")
    write_wav(path, samples, 16_000)
    speech = samples[int(truth[0].start_s * 16_000):int(truth[0].end_s * 16_000)]
    return path, speech


def _sent(request: dict) -> np.ndarray:
    import base64

    part = next(p for p in request["messages"][-1]["content"] if p["type"] == "input_audio")
    samples, info = decode_wav(base64.b64decode(part["input_audio"]["data"]))
    mono = samples[:, 0]
    return soxr.resample(mono, info.sample_rate, 16_000) if info.sample_rate != 16_000 else mono


@pytest.fixture
def conversation(audio_devices: None, tmp_path,
                 ) -> Iterator[tuple[ReplyServer, subprocess.Popen[str], Events, list[dict]]]:
    reply = marked_reply(synth(REPLY_TEXT, 24_000))
    with ReplyServer(float_to_pcm16(reply), REPLY_TEXT) as server:
        # stderr to a file: PortAudio prints two lines to it for every failed open
        # while a device is away, and a pipe nobody reads would fill and stop voicebot.
        stderr = open(tmp_path / "stderr.txt", "w+")
        proc = subprocess.Popen(
            VOICEBOT + ["chat", "--json", "--max-turns", "2", "--base-url", server.base_url],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env())
        proc.stderr = stderr
        events = json_events(proc)
        seen: list[dict] = []
        try:
            until(events, seen, lambda e: e["type"] == "listening", 30)
            yield server, proc, events, seen
        finally:
            proc.kill()
            proc.wait(10)
            restore_rig()


def _answered_after(conversation, tmp_path, break_rig: Callable[[], None],
                    mend_rig: Callable[[], None], kind: str) -> None:
    server, proc, events, seen = conversation
    first, first_speech = _said(tmp_path, "first", "what is the weather like today")
    second, second_speech = _said(tmp_path, "second", "tell me a story about the moon")
    play_into_mic(first)
    until(events, seen, _turn_done(1), 30)

    break_rig()
    try:
        lost = until(events, seen, _device(kind, "lost"), 15)
    except AssertionError:
        if proc.poll() is None:
            proc.send_signal(signal.SIGABRT)  # faulthandler: every thread's stack
            proc.wait(10)
        stderr = _stderr(proc)
        raise AssertionError(f"no device lost; voicebot exited {proc.returncode}: "
                             f"{_without_alsa_noise(stderr)[-4000:]}") from None
    mend_rig()
    until(events, seen, _device(kind, "back"), 30)
    time.sleep(0.5)
    with SpeakerRecorder() as rec:
        play_into_mic(second)
        until(events, seen, _turn_done(2), 30)
    proc.wait(30)
    assert proc.returncode == 0, _without_alsa_noise(_stderr(proc))[-3000:]

    assert lost["message"] and "\n" not in lost["message"]
    assert len(server.requests) == 2
    sent = _sent(server.requests[1])
    lag, score = best_lag(sent, second_speech)
    assert score > 0.9, (f"the second utterance did not reach the server whole ({score:.2f}; "
                         f"{len(sent) / 16000:.2f} s sent for {len(second_speech) / 16000:.2f} s "
                         f"said): {describe_mismatch(sent[lag:lag + len(second_speech)], second_speech, 16000)}")
    # The reply to it was played on the speaker (the recovered one, for kind "output").
    reply = soxr.resample(marked_reply(synth(REPLY_TEXT, 24_000)), 24_000, rec.rate)
    lag, score = best_lag(rec.samples, reply.astype(np.float32))
    assert score > 0.9, (f"the reply after the recovery was not heard on the speaker ({score:.2f}): "
                         f"{describe_mismatch(rec.samples[lag:lag + len(reply)], reply, rec.rate)}")


def test_microphone_unplugged_and_plugged_back(conversation, tmp_path) -> None:
    _answered_after(conversation, tmp_path, lambda: unload_sink(MIC_SINK),
                    lambda: load_sink(MIC_SINK), "input")


def test_speaker_unplugged_and_plugged_back(conversation, tmp_path) -> None:
    _answered_after(conversation, tmp_path, lambda: unload_sink(SPEAKER_SINK),
                    lambda: load_sink(SPEAKER_SINK), "output")


def test_sound_server_restarted(conversation, tmp_path) -> None:
    _answered_after(conversation, tmp_path, stop_sound_server, restore_rig, "input")


def test_portaudio_started_while_the_sound_server_was_down(audio_devices: None,
                                                            tmp_path) -> None:
    """PortAudio initialised with no sound server lists no device until it is
    re-initialised: the waiting microphone rescans (no stream is open) and hears the
    first utterance once the server is back."""
    said, speech = _said(tmp_path, "said", "what time is it in the morning")
    pcm_path = tmp_path / "heard.pcm"
    stderr = open(tmp_path / "stderr.txt", "w+")
    stop_sound_server()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("recovering_mic.py")),
                             str(pcm_path)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env=child_env())
    proc.stderr = stderr
    events = json_events(proc)
    seen: list[dict] = []
    try:
        until(events, seen, _device("input", "lost"), 30)  # it tried, found nothing
        restore_rig()
        until(events, seen, lambda e: e["type"] == "opened", 30)
        time.sleep(0.5)
        play_into_mic(said)
        done = until(events, seen, lambda e: e["type"] == "utterance", 30)
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait(10)
        restore_rig()
    assert proc.returncode == 0, _without_alsa_noise(_stderr(proc))[-3000:]
    assert done["rescans"] >= 1
    assert any(_device("input", "back")(e) for e in seen)
    heard = np.frombuffer(pcm_path.read_bytes(), "<i2").astype(np.float32) / 32768
    lag, score = best_lag(heard, speech)
    assert score > 0.9, f"the utterance heard after the rescan is not what was said ({score:.2f})"
