"""Issue 3: with no base URL, ``voicebot ask`` runs on the embedded local server.

Spoken "what time is it" (eSpeak NG) goes in as a WAV; the answer must state the
current time (checked against the clock while the command ran, to the minute) and
the reply audio must be real speech, not silence.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
from cli_harness import read_wav_pcm16, run_voicebot
from speech import compose
from vdev import write_wav

# "It's 2:07 PM." (12-hour, as the assistant says it) or "14:07" (24-hour).
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s*([AaPp])\.?\s*[Mm]\b\.?)?")


def _minutes_of_day(match: re.Match[str]) -> int:
    hour, minute, half = int(match.group(1)), int(match.group(2)), match.group(3)
    if half:
        hour = hour % 12 + (12 if half.lower() == "p" else 0)
    return hour * 60 + minute


def _within(said: int, start: dt.datetime, end: dt.datetime, slack_min: int = 1) -> bool:
    """``said`` (minutes of the day) lies in [start, end] give or take ``slack_min``."""
    t = start.replace(second=0, microsecond=0) - dt.timedelta(minutes=slack_min)
    while t <= end + dt.timedelta(minutes=slack_min):
        if t.hour * 60 + t.minute == said:
            return True
        t += dt.timedelta(minutes=1)
    return False


def test_what_time_is_it_on_the_embedded_server(home: Path, tmp_path: Path) -> None:
    said, _ = compose([0.3, "what time is it", 0.5], 16_000)
    question = tmp_path / "what_time.wav"
    write_wav(str(question), said, 16_000)
    out = tmp_path / "reply.wav"

    started = dt.datetime.now().astimezone()
    proc = run_voicebot(["ask", "--audio", str(question), "--output", str(out), "--no-play"],
                        home, timeout_s=120)
    ended = dt.datetime.now().astimezone()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # The embedded server says what it recognised: the user's line shows it.
    assert proc.stdout.splitlines()[0] == "you: what time is it"

    answer = next(line for line in proc.stdout.splitlines() if line.startswith("assistant:"))
    match = _CLOCK.search(answer)
    assert match, f"no time of day in {answer!r}"
    assert _within(_minutes_of_day(match), started, ended), (
        f"{answer!r} is not the time between {started:%H:%M} and {ended:%H:%M}")

    pcm, rate, channels, width = read_wav_pcm16(out)
    assert (rate, channels, width) == (24_000, 1, 2)
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0
    assert len(samples) / rate > 0.5, f"reply is only {len(samples) / rate:.2f} s long"
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(samples ** 2)) + 1e-12)
    assert rms_dbfs > -35, f"reply audio is near silence ({rms_dbfs:.1f} dBFS)"
