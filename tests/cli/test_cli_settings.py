"""Where settings come from (flags > environment > config file), and the API key's secrecy.

The scripted server shows what the command really sent: the Authorization header,
the model, the voice, the system prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import ThreadedScriptedServer, json_lines, run_voicebot
from cli_replies import SpokenReply, odd_pieces, tone_pcm16
from sse_server import Reply, delta, sse

KEY = "vb-test-Kq83xZ0pLm27"  # not sk-shaped: only registration can hide it
OTHER_KEY = "vb-test-other-77Hd0"


def _ok() -> Reply:
    return Reply(pieces=[SpokenReply(["Fine."], odd_pieces(tone_pcm16(0.2))).body()])


def _auth(server: ThreadedScriptedServer, i: int = 0) -> str | None:
    return server.requests[i].headers.get("authorization")


def _assert_no_key(*texts: str, key: str = KEY) -> None:
    for text in texts:
        assert key not in text
        assert key[4:] not in text  # not even most of it


@pytest.mark.parametrize("mode", [[], ["-v"], ["--json"], ["-v", "--json"]])
def test_key_echoed_in_http_error_never_shown(scripted: ThreadedScriptedServer, home: Path,
                                              mode: list[str]) -> None:
    scripted.reply(Reply(401, pieces=[
        f'{{"error": {{"message": "Incorrect API key provided: {KEY}. You can find your '
        f'API key at https://example.org.", "type": "invalid_request_error"}}}}'.encode()],
        chunked=False))
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--api-key", KEY, *mode,
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 4
    assert _auth(scripted) == f"Bearer {KEY}"  # the key was really used
    _assert_no_key(proc.stdout, proc.stderr)
    assert "Incorrect API key provided: ***" in proc.stderr
    assert "Traceback" not in proc.stderr
    if "-v" not in mode:
        assert len(proc.stderr.splitlines()) == 1
    if "--json" in mode:
        assert json_lines(proc.stdout, conversation=True)[-1]["type"] == "error"


def test_key_echoed_mid_stream_and_in_words_never_shown(scripted: ThreadedScriptedServer,
                                                       home: Path) -> None:
    scripted.reply(Reply(pieces=[sse(
        delta(role="assistant"), delta(audio={"transcript": f"Your key is {KEY}. "}),
        {"error": {"message": f"key {KEY} is suspended", "type": "server_error"}},
        done=False)]))
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "-v", "--json",
                         "--base-url", scripted.base_url], home,
                        env={"VOICEBOT_API_KEY": KEY})
    assert proc.returncode == 4
    _assert_no_key(proc.stdout, proc.stderr)
    events = json_lines(proc.stdout, conversation=True)
    assert "Your key is ***" in "".join(e.get("text", "") for e in events
                                        if e["type"] == "transcript.delta")
    assert "key *** is suspended" in events[-1]["message"]


def test_key_not_in_verbose_output_of_a_good_turn(scripted: ThreadedScriptedServer,
                                                 home: Path) -> None:
    scripted.reply(_ok())
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "-v",
                         "--base-url", scripted.base_url], home, env={"OPENAI_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr  # -v did log something
    _assert_no_key(proc.stdout, proc.stderr)


@pytest.mark.parametrize("env,flag,expected", [
    ({"OPENAI_API_KEY": OTHER_KEY}, None, OTHER_KEY),
    ({"VOICEBOT_API_KEY": KEY, "OPENAI_API_KEY": OTHER_KEY}, None, KEY),
    ({"VOICEBOT_API_KEY": OTHER_KEY, "OPENAI_API_KEY": OTHER_KEY}, KEY, KEY),
    ({}, None, None),
])
def test_api_key_precedence(scripted: ThreadedScriptedServer, home: Path, env: dict[str, str],
                            flag: str | None, expected: str | None) -> None:
    scripted.reply(_ok())
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--base-url", scripted.base_url,
                         *(["--api-key", flag] if flag else [])], home, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _auth(scripted) == (f"Bearer {expected}" if expected else None)


def test_base_url_from_env_and_flag_over_env(scripted: ThreadedScriptedServer,
                                            home: Path) -> None:
    scripted.reply(_ok(), _ok())
    proc = run_voicebot(["ask", "--text", "hi", "--no-play"], home,
                        env={"VOICEBOT_BASE_URL": scripted.base_url})
    assert proc.returncode == 0, proc.stderr
    assert len(scripted.requests) == 1
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--base-url", scripted.base_url],
                        home, env={"VOICEBOT_BASE_URL": "http://127.0.0.1:9/unused"})
    assert proc.returncode == 0, proc.stderr
    assert len(scripted.requests) == 2


def _config(path: Path, server: ThreadedScriptedServer) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'base_url = "{server.base_url}"\n'
                    f'api_key = "{KEY}"\n'
                    'model = "model-from-file"\n'
                    'voice = "echo"\n'
                    'system = "You are a pirate."\n'
                    'timeout = 12.5\n')
    return path


def test_config_file_flag(scripted: ThreadedScriptedServer, home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path / "elsewhere" / "vb.toml", scripted)
    scripted.reply(_ok())
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--config", str(config)], home)
    assert proc.returncode == 0, proc.stderr
    body = scripted.requests[0].json()
    assert body["model"] == "model-from-file"
    assert body["audio"]["voice"] == "echo"
    assert body["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert _auth(scripted) == f"Bearer {KEY}"


def test_default_config_location_and_precedence(scripted: ThreadedScriptedServer,
                                               home: Path) -> None:
    """~/.config/voicebot/config.toml is read; env beats it, flags beat env."""
    _config(home / ".config" / "voicebot" / "config.toml", scripted)
    scripted.reply(_ok(), _ok())
    proc = run_voicebot(["ask", "--text", "hi", "--no-play"], home,
                        env={"VOICEBOT_VOICE": "shimmer", "OPENAI_API_KEY": OTHER_KEY})
    assert proc.returncode == 0, proc.stderr
    body = scripted.requests[0].json()
    assert (body["model"], body["audio"]["voice"]) == ("model-from-file", "shimmer")
    assert _auth(scripted, 0) == f"Bearer {OTHER_KEY}"
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--voice", "fable", "--model",
                         "model-from-flag"], home, env={"VOICEBOT_VOICE": "shimmer"})
    assert proc.returncode == 0, proc.stderr
    body = scripted.requests[1].json()
    assert (body["model"], body["audio"]["voice"]) == ("model-from-flag", "fable")


def test_bad_config_file_is_one_line(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "vb.toml"
    config.write_text('voice = "echo"\nvolume = 11\n')
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--config", str(config)], home)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert str(config) in proc.stderr and "volume" in proc.stderr
