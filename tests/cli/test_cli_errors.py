"""Every failure ends with a non-zero exit code and one clear line on stderr.

Each test runs the real command against a real server on 127.0.0.1 (or none at all),
and checks: the exit code, exactly one stderr line, no traceback, and that the line
names the cause (the server's error.message, the file, the device). On a failure in
the middle of a reply, what arrived before it is still written and printed.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from cli_harness import (
    ThreadedScriptedServer,
    assert_one_line_error,
    read_wav_pcm16,
    run_voicebot,
)
from cli_replies import SpokenReply, audio_chunk, odd_pieces, tone_pcm16, whole_samples
from speech import compose
from sse_server import Cut, Hold, Reply, delta, sse
from vdev import write_wav

EXIT_INPUT, EXIT_API, EXIT_TRANSPORT, EXIT_DEVICE = 2, 4, 5, 6


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server(home: Path) -> None:
    port = _free_port()
    proc = run_voicebot(["ask", "--text", "hi", "--no-play",
                         "--base-url", f"http://127.0.0.1:{port}/v1"], home)
    assert_one_line_error(proc, code=EXIT_TRANSPORT,
                          contains=["cannot connect", f"127.0.0.1:{port}"])


def test_http_error_shows_the_servers_message(scripted: ThreadedScriptedServer,
                                              home: Path) -> None:
    message = "Invalid value for 'audio.voice': 'nobody' is not a voice."
    scripted.reply(Reply(400, pieces=[json.dumps({"error": {
        "message": message, "type": "invalid_request_error", "param": "audio.voice",
        "code": "invalid_value"}}).encode()], chunked=False))
    proc = run_voicebot(["ask", "--text", "hi", "--voice", "nobody", "--no-play",
                         "--base-url", scripted.base_url], home)
    assert_one_line_error(proc, code=EXIT_API, contains=["400", message])
    assert len(scripted.requests) == 1  # a 400 is not retried


def _partial_reply() -> tuple[SpokenReply, int]:
    """A reply and how many of its chunks go out before the failure (two audio deltas)."""
    reply = SpokenReply(["Here is the ", "start of it, "],
                        odd_pieces(tone_pcm16(1.0), piece_bytes=4801))
    return reply, 1 + len(reply.transcript) + 2


def _sent_audio(reply: SpokenReply, n_chunks: int) -> bytes:
    """The audio bytes in the first ``n_chunks`` chunks of ``reply``."""
    first_audio = 1 + len(reply.transcript)
    return b"".join(reply.pcm_pieces[: max(0, n_chunks - first_audio)])


@pytest.mark.parametrize("failure", ["error_event", "connection_cut", "body_ends_early",
                                     "stall"])
def test_failure_mid_reply_keeps_what_arrived(scripted: ThreadedScriptedServer, home: Path,
                                              tmp_path: Path, failure: str) -> None:
    reply, n = _partial_reply()
    head = sse(*reply.chunks()[:n], done=False)
    message = "The server had an error while processing your request."
    if failure == "error_event":
        script = Reply(pieces=[head + sse({"error": {"message": message,
                                                      "type": "server_error"}}, done=False)])
        code, words = EXIT_API, [message]
    elif failure == "connection_cut":
        script = Reply(pieces=[head, Cut()])
        code, words = EXIT_TRANSPORT, ["connection broke"]
    elif failure == "body_ends_early":
        script = Reply(pieces=[head])  # clean end of body, but no finish and no [DONE]
        code, words = EXIT_TRANSPORT, ["ended before the reply was complete"]
    else:
        script = Reply(pieces=[head, Hold(10)])
        code, words = EXIT_TRANSPORT, ["no data for 0.5 s"]
    scripted.reply(script)
    out = tmp_path / "reply.wav"
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--output", str(out),
                         "--timeout", "0.5", "--base-url", scripted.base_url], home)

    assert_one_line_error(proc, code=code, contains=words)
    assert len(scripted.requests) == 1, "audio had arrived: the request must not be retried"
    frames, rate, channels, width = read_wav_pcm16(out)
    assert (rate, channels, width) == (24_000, 1, 2)
    assert frames == whole_samples(_sent_audio(reply, n))
    assert proc.stdout.splitlines()[-1].rstrip() == "assistant: " + reply.text.rstrip()


def test_http_error_before_any_audio_leaves_no_wav(scripted: ThreadedScriptedServer,
                                                        home: Path, tmp_path: Path) -> None:
    body = {"error": {"message": "The model `x` does not exist",
                      "type": "invalid_request_error"}}
    scripted.reply(Reply(404, pieces=[json.dumps(body).encode()], chunked=False))
    out = tmp_path / "reply.wav"
    proc = run_voicebot(["ask", "--text", "hi", "--model", "x", "--no-play", "--output",
                         str(out), "--base-url", scripted.base_url], home)
    assert_one_line_error(proc, code=EXIT_API, contains=["The model `x` does not exist"])
    assert not out.exists()  # no 44-byte WAV of nothing


def test_stall_before_the_answer(scripted: ThreadedScriptedServer, home: Path) -> None:
    scripted.reply(Reply(send_head=False, pieces=[Hold(10)]))
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--timeout", "0.4",
                         "--base-url", scripted.base_url], home)
    assert_one_line_error(proc, code=EXIT_TRANSPORT, contains=["no data for 0.4 s"])


@pytest.mark.parametrize("option", ["--audio", "--image"])
def test_missing_input_file_is_named(home: Path, tmp_path: Path, option: str) -> None:
    missing = tmp_path / "nowhere" / "said.wav"
    proc = run_voicebot(["ask", option, str(missing), "--no-play",
                         "--base-url", f"http://127.0.0.1:{_free_port()}"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=[str(missing), "no such file"])


def test_undecodable_audio_file_is_named(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are not audio samples\n" * 20)
    proc = run_voicebot(["ask", "--audio", str(bad), "--no-play",
                         "--base-url", f"http://127.0.0.1:{_free_port()}"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=[str(bad)])


def test_chat_input_file_missing_is_named(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "conversation.wav"
    proc = run_voicebot(["chat", "--input", str(missing), "--fast", "--no-play",
                         "--base-url", f"http://127.0.0.1:{_free_port()}"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=[str(missing)])


def test_missing_config_file_is_named(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "voicebot.toml"
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--config", str(missing)], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=[str(missing)])


def test_malformed_ssml_is_refused_before_sending(scripted: ThreadedScriptedServer,
                                                 home: Path) -> None:
    proc = run_voicebot(["ask", "--ssml", "--text",
                         "<speak><prosody rate='slow'>hello</speak>", "--no-play",
                         "--base-url", scripted.base_url], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=["SSML"])
    assert scripted.requests == []


def _no_sound_server_env(tmp_path: Path) -> dict[str, str]:
    """A runtime dir with no PipeWire/PulseAudio socket in it: no audio device at all."""
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime), "PULSE_SERVER": "unix:/nonexistent",
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}


def test_ask_without_an_output_device(home: Path, tmp_path: Path) -> None:
    proc = run_voicebot(["ask", "--text", "hi", "--base-url",
                         f"http://127.0.0.1:{_free_port()}"], home,
                        env=_no_sound_server_env(tmp_path))
    line = assert_one_line_error(proc, code=EXIT_DEVICE,
                                 contains=["output device", "voicebot devices"])
    assert "--no-play" in line


def test_chat_without_an_input_device(home: Path, tmp_path: Path) -> None:
    proc = run_voicebot(["chat", "--no-play", "--base-url",
                         f"http://127.0.0.1:{_free_port()}"], home,
                        env=_no_sound_server_env(tmp_path))
    assert_one_line_error(proc, code=EXIT_DEVICE,
                          contains=["input device", "voicebot devices"])


def test_chat_unreachable_server(home: Path, tmp_path: Path) -> None:
    said, _ = compose([0.3, "hello", 0.9], 16_000)
    path = tmp_path / "hello.wav"
    write_wav(str(path), said, 16_000)
    port = _free_port()
    proc = run_voicebot(["chat", "--input", str(path), "--fast", "--no-play",
                         "--base-url", f"http://127.0.0.1:{port}"], home)
    assert_one_line_error(proc, code=EXIT_TRANSPORT,
                          contains=["cannot connect", f"127.0.0.1:{port}"])


def test_usage_errors_are_one_line(home: Path) -> None:
    proc = run_voicebot(["ask", "--text", "hi", "--timeout", "soon"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=["--timeout", "'soon'", "--help"])
    proc = run_voicebot(["speak"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=["'speak'"])


def test_bad_option_values_are_one_line(home: Path) -> None:
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--base-url", "ftp://x"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=["ftp://x"])
    proc = run_voicebot(["ask", "--no-play", "--base-url", "http://127.0.0.1:9"], home)
    assert_one_line_error(proc, code=EXIT_INPUT, contains=["--text"])


def test_partial_transcript_split_inside_a_word_is_printed(scripted: ThreadedScriptedServer,
                                                          home: Path) -> None:
    """The words so far are printed even when the failure comes mid-word."""
    pcm = tone_pcm16(0.2)
    scripted.reply(Reply(pieces=[sse(delta(role="assistant"),
                                     delta(audio={"transcript": "It is tw"}),
                                     audio_chunk(pcm, audio_id="a"), done=False), Cut()]))
    proc = run_voicebot(["ask", "--text", "hi", "--no-play",
                         "--base-url", scripted.base_url], home)
    assert_one_line_error(proc, code=EXIT_TRANSPORT)
    assert proc.stdout.splitlines() == ["you: hi", "assistant: It is tw"]
