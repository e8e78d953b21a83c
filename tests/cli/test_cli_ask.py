"""``voicebot ask`` end to end: what goes out in the request, what comes back to the user.

The command runs in a subprocess against the scripted HTTP server; the test knows
every byte the server sent and reads every request it got.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import soxr
from cli_harness import (
    ThreadedScriptedServer,
    json_lines,
    read_wav_pcm16,
    run_timed,
    run_voicebot,
)
from cli_replies import SpokenReply, odd_pieces, tone_pcm16, tool_call_body
from speech import compose
from sse_server import Pause, Reply, sse
from signals import best_lag
from vdev import write_wav

from voicebot.audio import decode_wav


def _reply(seconds: float = 0.6) -> SpokenReply:
    return SpokenReply(["It is a ", "sunny day."], odd_pieces(tone_pcm16(seconds), 4801))


def _user_parts(request_json: dict) -> list[dict]:
    return request_json["messages"][-1]["content"]


def test_output_is_exactly_the_audio_received(scripted: ThreadedScriptedServer, home: Path,
                                              tmp_path: Path) -> None:
    reply = _reply(1.3)
    assert any(len(p) % 2 for p in reply.pcm_pieces)  # deltas end on half samples
    scripted.reply(Reply(pieces=[reply.body()]))
    out = tmp_path / "reply.wav"
    proc = run_voicebot(["ask", "--text", "what is the weather", "--no-play", "--output",
                         str(out), "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert read_wav_pcm16(out) == (reply.pcm, 24_000, 1, 2)
    assert proc.stdout.splitlines() == ["you: what is the weather", "assistant: " + reply.text]
    body = scripted.requests[0].json()
    assert body["stream"] is True
    assert body["modalities"] == ["text", "audio"]
    assert body["audio"] == {"voice": "alloy", "format": "pcm16"}
    assert _user_parts(body) == [{"type": "text", "text": "what is the weather"}]


def test_audio_wav_is_sent_byte_identical(scripted: ThreadedScriptedServer, home: Path,
                                          tmp_path: Path) -> None:
    said, _ = compose([0.2, "what time is it", 0.2], 16_000)
    wav = tmp_path / "said.wav"
    write_wav(str(wav), said, 16_000)
    scripted.reply(Reply(pieces=[_reply().body()]))
    proc = run_voicebot(["ask", "--audio", str(wav), "--no-play",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    [part] = _user_parts(scripted.requests[0].json())
    assert part["type"] == "input_audio"
    assert part["input_audio"]["format"] == "wav"
    assert base64.b64decode(part["input_audio"]["data"]) == wav.read_bytes()
    assert proc.stdout.splitlines()[0] == f"you: [speech, {len(said) / 16_000:.1f} s]"


def test_audio_mp3_is_converted_to_wav(scripted: ThreadedScriptedServer, home: Path,
                                       tmp_path: Path) -> None:
    said, truth = compose([0.3, "please tell me a story", 0.3], 16_000)
    wav, mp3 = tmp_path / "said.wav", tmp_path / "said.mp3"
    write_wav(str(wav), said, 16_000)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "128k",
                    str(mp3)], check=True)
    scripted.reply(Reply(pieces=[_reply().body()]))
    proc = run_voicebot(["ask", "--audio", str(mp3), "--no-play",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    [part] = _user_parts(scripted.requests[0].json())
    assert part["input_audio"]["format"] == "wav"
    sent_bytes = base64.b64decode(part["input_audio"]["data"])
    assert sent_bytes[:4] == b"RIFF" and sent_bytes[8:12] == b"WAVE"
    sent, info = decode_wav(sent_bytes)
    sent_16k = soxr.resample(sent[:, 0], info.sample_rate, 16_000)
    # MP3 pads a few ms at both ends; the speech itself must all be there, unchanged.
    assert abs(len(sent_16k) / 16_000 - len(said) / 16_000) < 0.1
    speech = said[int(truth[0].start_s * 16_000): int(truth[0].end_s * 16_000)]
    lag, score = best_lag(sent_16k, speech)
    assert score > 0.9, f"the converted audio does not match the file ({score:.2f})"
    assert abs(lag / 16_000 - truth[0].start_s) < 0.06


def test_image_file_goes_as_a_data_url(scripted: ThreadedScriptedServer, home: Path,
                                       tmp_path: Path) -> None:
    png = tmp_path / "cat.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3)
    scripted.reply(Reply(pieces=[_reply().body()]))
    proc = run_voicebot(["ask", "--text", "what is this?", "--image", str(png), "--no-play",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    parts = _user_parts(scripted.requests[0].json())
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["type"] == "image_url"
    expected = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert parts[1]["image_url"]["url"] == expected


def test_image_http_url_is_sent_as_given(scripted: ThreadedScriptedServer, home: Path) -> None:
    url = "http://images.example.org/cats/tabby.jpg?size=large"
    scripted.reply(Reply(pieces=[_reply().body()]))
    proc = run_voicebot(["ask", "--image", url, "--no-play", "--base-url", scripted.base_url],
                        home)
    assert proc.returncode == 0, proc.stderr
    [part] = _user_parts(scripted.requests[0].json())
    assert part["image_url"]["url"] == url


def test_json_event_stream_with_a_tool_call(scripted: ThreadedScriptedServer, home: Path,
                                            tmp_path: Path) -> None:
    """Every line is JSON; deltas, audio counts, tool calls, usage, timings are there."""
    expression = "12 * 7 + 3"
    reply = _reply(0.9)
    scripted.reply(Reply(pieces=[tool_call_body("calculate", {"expression": expression})]),
                   Reply(pieces=[reply.body()]))
    out = tmp_path / "reply.wav"
    proc = run_voicebot(["ask", "--text", f"what is {expression}", "--no-play", "--json",
                         "--output", str(out), "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    events = json_lines(proc.stdout)
    kinds = [e["type"] for e in events]

    # The session ran the built-in tool and sent its result back in a second request.
    assert len(scripted.requests) == 2
    tool_message = scripted.requests[1].json()["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert str(12 * 7 + 3) in tool_message["content"]
    [call] = [e for e in events if e["type"] == "tool_call"]
    assert call["name"] == "calculate"
    assert json.loads(call["arguments"]) == {"expression": expression}
    assert str(12 * 7 + 3) in call["result"]
    assert "tool_call.start" in kinds

    # Words and audio, as they arrived.
    assert "".join(e["text"] for e in events if e["type"] == "transcript.delta") == reply.text
    audio = [e for e in events if e["type"] == "audio"]
    assert sum(e["bytes"] for e in audio) == len(reply.pcm)
    assert audio[-1]["total_bytes"] == len(reply.pcm)
    assert read_wav_pcm16(out)[0] == reply.pcm
    usage = [e["usage"] for e in events if e["type"] == "usage"]
    assert {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1],
            "total_tokens": sum(reply.usage)} in usage

    # The turn's record comes last (then the state goes back to listening, and the
    # run's summary closes the stream), with timings in order.
    assert kinds[-2:] == ["state", "summary"] and events[-1]["turns"] == 1
    done = events[-3]
    assert done["type"] == "turn.done"
    assert done["audio_bytes"] == len(reply.pcm)
    assert done["requests"] == 2
    assert done["finish_reason"] == "stop"
    t = done["timings_ms"]
    assert 0 <= t["first_byte"] <= t["first_audio"] <= t["done"]
    assert kinds.index("user") < kinds.index("transcript.delta")


def test_json_error_event(scripted: ThreadedScriptedServer, home: Path) -> None:
    scripted.reply(Reply(429, pieces=[b'{"error": {"message": "Rate limit reached"}}'],
                         headers={"x-should-retry": "false"}, chunked=False))
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--json",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 4
    events = json_lines(proc.stdout, conversation=True)
    assert events[-1]["type"] == "error" and events[-1]["turn"] == 1
    assert "Rate limit reached" in events[-1]["message"]
    assert len(proc.stderr.splitlines()) == 1 and "Rate limit reached" in proc.stderr


def test_words_print_as_they_arrive_without_a_speaker(scripted: ThreadedScriptedServer,
                                                      home: Path) -> None:
    """With --no-play nothing paces the words: each delta shows when it comes in."""
    reply = _reply(0.3)
    chunks = reply.chunks()
    first_words = 1 + 1  # role, then the first transcript delta
    scripted.reply(Reply(pieces=[sse(*chunks[:first_words], done=False), Pause(0.8),
                                 sse(*chunks[first_words:])]))
    reader, ended = run_timed(["ask", "--text", "hi", "--no-play",
                               "--base-url", scripted.base_url], home)
    shown = reader.when_seen("assistant: " + reply.transcript[0])
    rest = reader.when_seen(reply.text)
    assert rest - shown > 0.5, "the first words waited for the rest of the reply"
    assert ended - rest < 0.5
