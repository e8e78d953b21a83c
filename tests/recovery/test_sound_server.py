"""The sound-server edge against a stand-in ``pactl`` (a script printing canned JSON).

Checked: our streams are found through their client's process id (PipeWire's ALSA
plugin puts it on the client, not on the stream), the device is named, moving
calls the right command with the stream's index, and a server that does not
answer gives None rather than an error.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from voicebot.recovery.server import SoundServer, _relevant

PID = 4242

CLIENTS = [{"index": 7, "properties": {"application.process.id": str(PID)}},
           {"index": 8, "properties": {"application.process.id": "1"}}]
SOURCE_OUTPUTS = [{"index": 30, "client": "8", "source": 53, "properties": {}},
                  {"index": 31, "client": "7", "source": 46, "properties": {}}]
SOURCES = [{"index": 46, "name": "voicebot_mic.monitor"},
           {"index": 53, "name": "voicebot_speaker.monitor"}]


def fake_pactl(tmp_path: Path, *, fail: bool = False) -> tuple[str, Path]:
    """A ``pactl`` that answers ``-f json list KIND`` and logs every call."""
    log = tmp_path / "calls.txt"
    data = {"clients": CLIENTS, "source-outputs": SOURCE_OUTPUTS, "sources": SOURCES,
            "sink-inputs": [], "sinks": []}
    (tmp_path / "data.json").write_text(json.dumps(data))
    script = tmp_path / "pactl"
    script.write_text(f"""#!/usr/bin/env python3
import json, sys
with open({str(log)!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if {fail!r}:
    sys.exit(1)
args = sys.argv[1:]
if args[:3] == ["-f", "json", "list"]:
    print(json.dumps(json.load(open({str(tmp_path / "data.json")!r}))[args[3]]))
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), log


def test_finds_our_capture_stream_by_its_client(tmp_path: Path) -> None:
    pactl, _ = fake_pactl(tmp_path)
    server = SoundServer(pactl, pid=PID)
    assert server.stream_device("input") == "voicebot_mic.monitor"
    assert server.stream_device("output") is None  # we play nothing
    assert SoundServer(pactl, pid=999).stream_device("input") is None


def test_device_exists(tmp_path: Path) -> None:
    pactl, _ = fake_pactl(tmp_path)
    server = SoundServer(pactl, pid=PID)
    assert server.device_exists("input", "voicebot_speaker.monitor")
    assert not server.device_exists("input", "voicebot_mic")
    assert not server.device_exists("output", "voicebot_speaker")


def test_moves_only_our_streams(tmp_path: Path) -> None:
    pactl, log = fake_pactl(tmp_path)
    SoundServer(pactl, pid=PID).move_stream("input", "voicebot_mic.monitor")
    calls = log.read_text().splitlines()
    assert "move-source-output 31 voicebot_mic.monitor" in calls
    assert not any(c.startswith("move-source-output 30") for c in calls)


def test_a_server_that_does_not_answer(tmp_path: Path) -> None:
    pactl, _ = fake_pactl(tmp_path, fail=True)
    server = SoundServer(pactl, pid=PID)
    assert server.stream_device("input") is None
    assert not server.device_exists("input", "voicebot_mic.monitor")
    server.move_stream("input", "x")  # no error


def test_find_without_pactl(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert SoundServer.find() is None


def test_which_events_matter() -> None:
    assert _relevant(b"Event 'remove' on source #53\n")
    assert _relevant(b"Event 'change' on source-output #31\n")
    assert _relevant(b"Event 'new' on sink #60\n")
    assert not _relevant(b"Event 'new' on client #172\n")
    assert not _relevant(b"Event 'remove' on module #536870913\n")
