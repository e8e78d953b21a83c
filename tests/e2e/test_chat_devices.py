"""The whole pipeline on real PortAudio devices (PipeWire null sinks).

A synthesised utterance is played into the virtual microphone while
``voicebot chat --max-turns 1`` listens on the default devices; the test server
records what arrived and answers with a known reply, and the virtual speaker's
monitor is recorded. Checked: the utterance reached the server whole, and every
sample of the reply — including the last — reached the speaker.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import numpy as np
import soxr

from procs import child_env, communicate
from replyserver import ReplyServer, marked_reply
from speech import compose, synth
from signals import best_lag, describe_mismatch, similarity
from vdev import SpeakerRecorder, play_into_mic, write_wav
from voicebot.audio import decode_wav, float_to_pcm16

VOICEBOT = [sys.executable, "-m", "voicebot"]


def _wait_for_event(proc: subprocess.Popen[str], kind: str, timeout_s: float) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        seen.append(event)
        if event["type"] == kind:
            return seen
    raise AssertionError(f"no {kind!r} event; got {seen}; stderr: {proc.stderr.read() if proc.stderr else ''}")


def test_chat_one_turn_on_virtual_mic_and_speaker(audio_devices: None, tmp_path) -> None:
    said, truth = compose([0.4, "please tell me a short story about the sea", 0.3], 16_000)
    mic_wav = str(tmp_path / "said.wav")
    write_wav(mic_wav, said, 16_000)
    reply_text = "Once upon a time, the sea was calm."
    reply = marked_reply(synth(reply_text, 24_000))

    with ReplyServer(float_to_pcm16(reply), reply_text) as server, SpeakerRecorder() as rec:
        proc = subprocess.Popen(
            VOICEBOT + ["chat", "--max-turns", "1", "--json", "--base-url", server.base_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            _wait_for_event(proc, "listening", 30)
            routing = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True,
                                     text=True).stdout
            play_into_mic(mic_wav)
            out, err = communicate(proc, 60)
        finally:
            proc.kill()
        assert proc.returncode == 0, err

    # 1. The utterance reached the server, whole: same speech, start and end kept.
    assert len(server.requests) == 1
    parts = server.requests[0]["messages"][-1]["content"]
    audio_part = next(p for p in parts if p["type"] == "input_audio")
    sent, info = decode_wav(base64.b64decode(audio_part["input_audio"]["data"]))
    sent = sent[:, 0]
    speech = said[int(truth[0].start_s * 16000): int(truth[0].end_s * 16000)]
    sent_16k = soxr.resample(sent, info.sample_rate, 16000) if info.sample_rate != 16000 else sent
    lag, score = best_lag(sent_16k, speech)
    assert score > 0.9, f"sent audio does not match the spoken words (correlation {score:.2f})"
    assert lag > 0, "the onset was clipped: no pre-roll before the first syllable"
    assert lag + len(speech) <= len(sent_16k), "the end of the utterance was cut off"

    # 2. Every sample of the reply reached the speaker, including the final marker.
    ref = soxr.resample(reply, 24_000, rec.rate).astype(np.float32)
    lag, score = best_lag(rec.samples, ref)
    assert score > 0.95, (f"reply on the speaker does not match what was sent ({score:.2f}): "
                          f"{describe_mismatch(rec.samples[lag:lag + len(ref)], ref, rec.rate)}; "
                          f"recorded {len(rec.samples)} samples, peak {np.abs(rec.samples).max(initial=0):.3f}; "
                          f"streams:\n{routing}")
    played = rec.samples[lag: lag + len(ref)]
    assert len(played) == len(ref), "recording ended before the reply did"
    tail = int(0.06 * rec.rate)  # the 60 ms marker burst at the very end
    tail_score = similarity(played[-tail:], ref[-tail:])
    win = int(0.005 * rec.rate)
    per_5ms = [round(similarity(played[i:i + win], ref[i:i + win]), 2)
               for i in range(len(played) - tail, len(played), win)]
    assert tail_score > 0.95, (f"the last samples of the reply are missing ({tail_score:.2f}); "
                               f"similarity of each 5 ms of the final 60 ms: {per_5ms}")

    events = [json.loads(line) for line in out.splitlines()]
    done = next(e for e in events if e["type"] == "turn.done")
    assert done["audio_bytes"] == len(float_to_pcm16(reply))
    assert done["underruns"] == 0
    text = "".join(e["text"] for e in events if e["type"] == "transcript.delta")
    assert text.split() == reply_text.split()
