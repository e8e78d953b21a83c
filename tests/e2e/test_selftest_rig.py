"""``voicebot selftest`` on the PipeWire rig.

With the speaker's monitor looped back into the microphone (``module-loopback``,
``latency_msec=40``) the self-test must pass, and its round trip must match the
path: the loopback's 40 ms plus both device buffers as PortAudio reports them
(``device_latency_ms``), within two PipeWire graph quanta (2 × 1024 frames at
48 kHz = 43 ms): the loopback and the ALSA plugin each buffer in whole quanta, and
the plugin's reported latency is known to be off by up to a period (see
``Speaker.drained``). Without the loopback the microphone hears nothing and the
self-test fails with one line saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from procs import child_env
from vdev import MIC_SINK, SPEAKER_SINK

VOICEBOT = [sys.executable, "-m", "voicebot"]
LOOPBACK_MS = 40
QUANTUM_MS = 1024 / 48_000 * 1000


@pytest.fixture
def loopback(audio_devices: None) -> Iterator[None]:
    module = subprocess.run(
        ["pactl", "load-module", "module-loopback", f"source={SPEAKER_SINK}.monitor",
         f"sink={MIC_SINK}", f"latency_msec={LOOPBACK_MS}"],
        check=True, capture_output=True, text=True).stdout.strip()
    try:
        time.sleep(0.3)  # the loopback's streams link
        yield
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)


def _selftest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(VOICEBOT + ["selftest", *args], capture_output=True, text=True,
                          timeout=60, env=child_env())


def test_selftest_passes_through_a_loopback(loopback: None) -> None:
    done = _selftest("--json")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["passed"] is True and result["phrase_detected"] is True
    assert result["correlation"] > 0.9
    assert result["chirp"]["clipped"] == 0
    expected_ms = LOOPBACK_MS + result["device_latency_ms"]
    assert abs(result["latency_ms"] - expected_ms) <= 2 * QUANTUM_MS, (
        f"round trip {result['latency_ms']} ms, expected {expected_ms:.0f} ms "
        f"(loopback {LOOPBACK_MS} + devices {result['device_latency_ms']})")
    assert result["wake_word"]  # checked or a line saying why it was skipped


def test_selftest_fails_without_a_path_and_says_why(audio_devices: None) -> None:
    done = _selftest()
    assert done.returncode == 1
    verdict = done.stderr.strip().splitlines()[-1]
    assert "did not hear the speaker's chirp" in verdict
    assert "Traceback" not in done.stderr
