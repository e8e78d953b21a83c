"""Commands on the PipeWire virtual devices: ``devices``, and ``ask`` playing its reply.

Uses the ``audio_devices`` fixture (tests/conftest.py): under CI a missing sound server
fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from cli_harness import (
    VOICEBOT,
    ThreadedScriptedServer,
    clean_env,
    read_wav_pcm16,
    run_timed,
)
from cli_replies import API_RATE, SpokenReply, odd_pieces, tone_pcm16
from sse_server import Reply

_TRUTH = """
import json, sounddevice as sd
devices = sd.query_devices()
print(json.dumps({"names": [d["name"] for d in devices], "default": list(sd.default.device)}))
"""


def test_devices_lists_every_device_and_marks_defaults(audio_devices: None,
                                                       home: Path) -> None:
    # Ground truth straight from PortAudio, in a process of its own.
    truth = json.loads(subprocess.run([sys.executable, "-c", _TRUTH], env=clean_env(home),
                                      capture_output=True, text=True, check=True).stdout)
    proc = subprocess.run(VOICEBOT + ["devices"], env=clean_env(home), capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(.)(.)\s+(\d+) (.+?) \(", line)
        if m:
            rows[int(m.group(3))] = (m.group(1), m.group(2), m.group(4))
    assert sorted(rows) == list(range(len(truth["names"])))
    default_in, default_out = truth["default"]
    for index, (in_mark, out_mark, name) in rows.items():
        assert name == truth["names"][index]
        assert (in_mark == "<") == (index == default_in)
        assert (out_mark == ">") == (index == default_out)
    assert "default input" in proc.stdout and "default output" in proc.stdout


def test_ask_plays_and_the_words_keep_pace_with_the_voice(audio_devices: None, home: Path,
                                                          scripted: ThreadedScriptedServer,
                                                          tmp_path: Path) -> None:
    """The whole transcript arrives before the audio; printing follows the playback."""
    audio_s = 2.4
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    reply = SpokenReply([" ".join(words[:6]) + " ", " ".join(words[6:]) + "."],
                        odd_pieces(tone_pcm16(audio_s), 9601))
    scripted.reply(Reply(pieces=[reply.body()]))
    out = tmp_path / "reply.wav"
    reader, ended = run_timed(["ask", "--text", "count", "--output", str(out),
                               "--base-url", scripted.base_url], home)

    first = reader.when_seen("assistant: one")
    middle = reader.when_seen("six")
    last = reader.when_seen("twelve.")
    # The server sent everything at once; only the speaker's pace spreads the words.
    assert middle - first > 0.25 * audio_s, "words ran ahead of the voice"
    assert last - first > 0.6 * audio_s, "words ran ahead of the voice"
    assert ended - first >= 0.9 * audio_s, "the command ended before the reply was played"
    assert ended - last < 0.5 * audio_s, "the last words came long after the voice"
    assert read_wav_pcm16(out)[0] == reply.pcm
    assert len(reply.pcm) == round(audio_s * API_RATE) * 2
