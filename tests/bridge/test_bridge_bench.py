"""The load benchmark, short: a few real-time clients against a bridge process (and
against the websockets-server variant it compares with); every utterance answered,
every session held. No timing is asserted here: the numbers are the script's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.bridge.stats import DelayHistogram

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_bridge.py"


@pytest.mark.parametrize("server", ["uvicorn", "websockets"])
def test_short_load_run(server: str) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--clients", "5", "--seconds", "6",
                          "--cycles", "50", "--server", server, "--json"],
                         capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert out.returncode == 0, report
    assert report["sessions_held"] == 5 and report["failures"] == []
    assert report["answered"] == report["asked"] >= 5 and report["unanswered"] == 0
    assert report["frames_measured"] > 0 and report["cycles"] == 50


def test_histogram_percentiles() -> None:
    h = DelayHistogram(bin_ms=1.0, max_ms=100)
    for ms in range(1, 101):
        h.add(ms / 1000 - 0.0005)
    assert h.percentile_ms(50) == 50.0 and h.percentile_ms(99) == 99.0
    h.add(5.0)  # past the last bin: counted there, the max says how slow
    assert h.summary()["max_ms"] == 5000.0 and h.count == 101
    h.reset()
    assert h.percentile_ms(50) is None
