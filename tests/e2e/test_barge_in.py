"""Barge-in on real devices: speaking over a reply stops it and is answered next.

``voicebot chat --barge-in`` listens on the virtual microphone while a slow
(real-time) test server streams a 6 s reply to the virtual speaker. A second
utterance played into the microphone mid-reply must interrupt it: an
``interrupted`` event, the history keeps only what was heard, and the second
utterance is the next request's last user message.
"""

from __future__ import annotations

import base64
import subprocess
import sys

import numpy as np
import soxr
from procs import child_env, json_events, until, wait
from replyserver import ReplyServer
from speech import compose
from vdev import SpeakerRecorder, play_into_mic, write_wav

from voicebot.audio import decode_wav, float_to_pcm16

REPLY_TEXT = ("Once upon a time there was a lighthouse keeper who lived on a small rock "
              "far out at sea, and every night he climbed the stairs to light the lamp.")


def _correlation(sent: np.ndarray, speech: np.ndarray) -> float:
    """Best normalised cross-correlation of ``speech`` inside ``sent`` (FFT)."""
    n = len(sent) + len(speech)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(sent, size) * np.conj(np.fft.rfft(speech, size)), size)
    lag = int(np.argmax(corr[: len(sent)]))
    seg = sent[lag: lag + len(speech)]
    return float(np.dot(seg, speech[: len(seg)]) /
                 (np.linalg.norm(seg) * np.linalg.norm(speech[: len(seg)]) + 1e-12))


def _sent_audio(message: dict) -> np.ndarray:
    part = next(p for p in message["content"] if p["type"] == "input_audio")
    samples, info = decode_wav(base64.b64decode(part["input_audio"]["data"]))
    mono = samples[:, 0]
    return mono if info.sample_rate == 16_000 else soxr.resample(mono, info.sample_rate, 16_000)


def test_speaking_over_the_reply_interrupts_it(audio_devices: None, tmp_path) -> None:
    first, first_truth = compose([0.3, "tell me a story about the sea", 0.3], 16_000)
    second, second_truth = compose([0.2, "stop, what is the weather like today", 0.3], 16_000)
    first_wav, second_wav = str(tmp_path / "first.wav"), str(tmp_path / "second.wav")
    write_wav(first_wav, first, 16_000)
    write_wav(second_wav, second, 16_000)
    t = np.arange(6 * 24_000) / 24_000
    reply = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)  # 6 s

    with ReplyServer(float_to_pcm16(reply), REPLY_TEXT, piece_delay_s=0.1) as server, \
            SpeakerRecorder():
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "chat", "--barge-in", "--max-turns", "2",
             "--json", "--base-url", server.base_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        seen: list[dict] = []
        try:
            events = json_events(proc)
            until(events, seen, lambda e: e["type"] == "listening", 30)
            play_into_mic(first_wav)
            # The reply is playing once ~1 s of its audio has arrived (prebuffer 120 ms).
            until(events, seen, lambda e: e["type"] == "audio" and e["total_bytes"] >= 48_000,
                   20)
            play_into_mic(second_wav)
            until(events, seen, lambda e: e["type"] == "turn.done", 30)
            err = wait(proc, 20)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    while (event := events.get(timeout=5)) is not None:
        seen.append(event)

    kinds = [e["type"] for e in seen]
    assert kinds.count("interrupted") == 1, kinds
    interrupted = next(e for e in seen if e["type"] == "interrupted")
    assert interrupted["turn"] == 1
    # Interrupted mid-reply: some of the 6 s played, far from all of it.
    assert 300 < interrupted["played_ms"] < 5000, interrupted
    assert kinds.count("turn.done") == 1  # only the second turn ran to its end
    assert kinds.index("interrupted") < kinds.index("turn.done")

    assert len(server.requests) == 2
    history = server.requests[1]["messages"]
    assistant = [m for m in history if m["role"] == "assistant"]
    assert len(assistant) == 1
    heard = assistant[0]["content"]
    heard = heard if isinstance(heard, str) else "".join(p.get("text", "") for p in heard)
    assert heard == interrupted["text"]
    assert REPLY_TEXT.startswith(heard) and len(heard) < len(REPLY_TEXT), heard

    # The last user message is the second utterance, whole (not the first one).
    said_second = second[int(second_truth[0].start_s * 16_000): int(second_truth[0].end_s * 16_000)]
    said_first = first[int(first_truth[0].start_s * 16_000): int(first_truth[0].end_s * 16_000)]
    assert history[-1]["role"] == "user"
    sent = _sent_audio(history[-1])
    assert len(sent) >= len(said_second), "the second utterance was cut short"
    assert _correlation(sent, said_second) > 0.9
    assert _correlation(_sent_audio(server.requests[0]["messages"][-1]), said_first) > 0.9
