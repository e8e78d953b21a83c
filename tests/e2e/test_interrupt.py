"""Ctrl-C or SIGTERM while a reply plays: playback stops at once (faded), the command
exits 130 or 143 (systemd stops a service with SIGTERM: the same clean path)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from replyserver import ReplyServer
from vdev import SpeakerRecorder
from voicebot.audio import float_to_pcm16


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
@pytest.mark.parametrize("piece_delay_s", [0.01, 0.1], ids=["stream-done", "streaming"])
def test_ctrl_c_stops_playback_at_once(audio_devices: None, piece_delay_s: float,
                                       signum: int) -> None:
    """Interrupted after the stream ended, and while it still streams in real time."""
    t = np.arange(6 * 24_000) / 24_000
    reply = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)  # 6 s tone
    with ReplyServer(float_to_pcm16(reply), "a long answer",
                     piece_delay_s=piece_delay_s) as server, SpeakerRecorder() as rec:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "ask", "--text", "talk for a while",
             "--base-url", server.base_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        time.sleep(2.5)  # the reply is playing by now (start-up + prebuffer < 2.5 s)
        sent_at = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
        exited_after_s = time.monotonic() - sent_at
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert exited_after_s < 1.0, f"took {exited_after_s:.2f} s to stop after Ctrl-C"
    # The speaker heard some of the tone, and much less than all of it.
    loud = np.abs(rec.samples) > 0.1
    heard_s = (np.flatnonzero(loud)[-1] - np.flatnonzero(loud)[0]) / rec.rate
    assert 0.2 < heard_s < 4.0, f"played {heard_s:.2f} s of a 6 s reply"
