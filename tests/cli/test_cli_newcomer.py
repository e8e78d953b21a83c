"""What a newcomer reaches for: pipes, signals, which backend, empty output, -v/-vv."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest

from cli_harness import (
    VOICEBOT,
    ThreadedScriptedServer,
    clean_env,
    json_lines,
    run_voicebot,
)
from cli_replies import SpokenReply, odd_pieces, tone_pcm16
from sse_server import Pause, Reply, delta, finish, sse
from speech import compose
from vdev import write_wav


def _reply(seconds: float = 0.5) -> SpokenReply:
    return SpokenReply(["One line. ", "Another line."], odd_pieces(tone_pcm16(seconds), 4801))


def _piped_to_head(args: list[str], home: Path) -> tuple[int, str, str]:
    """``voicebot ARGS | head -1``: voicebot's own exit code, what head printed, stderr."""
    env = clean_env(home)
    cmd = " ".join(f"'{a}'" for a in VOICEBOT + args)
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} 2>err.txt | head -1; "
                           "echo \"rc=${PIPESTATUS[0]}\""], env=env, cwd=home,
                          capture_output=True, text=True, timeout=60)
    *lines, rc = proc.stdout.splitlines()
    return int(rc.removeprefix("rc=")), "\n".join(lines), (home / "err.txt").read_text()


def test_a_closed_pipe_is_no_error(scripted: ThreadedScriptedServer, home: Path) -> None:
    for extra in ([], ["--json"]):
        # Enough output that the pipe closes while voicebot still writes.
        scripted.reply(Reply(pieces=[_reply(2.0).body()]))
        code, shown, err = _piped_to_head(["ask", "--text", "hi", "--no-play",
                                           "--base-url", scripted.base_url, *extra], home)
        assert code == 0, err
        assert err == "", err
        assert shown  # head got its line


def test_sigterm_takes_the_clean_path(scripted: ThreadedScriptedServer, home: Path,
                                      tmp_path: Path) -> None:
    """A service stopped by systemd: exit 143, one line, the WAV complete and valid."""
    reply = _reply(4.0)
    pieces: list = [sse(delta(role="assistant"), delta(audio={"transcript": reply.text}),
                        done=False)]
    for piece in reply.pcm_pieces:  # real time: still streaming when the signal comes
        pieces += [sse(delta(audio={"data": base64.b64encode(piece).decode()}), done=False),
                   Pause(len(piece) / 48_000)]
    pieces.append(sse(finish("stop")))
    scripted.reply(Reply(pieces=pieces))
    out = tmp_path / "reply.wav"
    proc = subprocess.Popen(VOICEBOT + ["ask", "--text", "talk", "--no-play", "--output",
                                        str(out), "--base-url", scripted.base_url],
                            env=clean_env(home), cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 10_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    assert err.splitlines() == ["terminated"]
    with wave.open(str(out)) as w:  # the header was patched: a valid, playable file
        frames = w.getnframes()
        assert 0 < frames < len(reply.pcm) // 2
        assert w.readframes(frames) == reply.pcm[: frames * 2]


def test_an_api_key_alone_means_openai_and_local_means_offline(home: Path) -> None:
    proc = run_voicebot(["ask", "--text", "what time is it", "--no-play", "--json",
                         "--timeout", "3"], home,
                        env={"OPENAI_API_KEY": "sk-test-not-a-real-key-000"}, timeout_s=90)
    backend = [e for e in json_lines(proc.stdout) if e["type"] == "backend"]
    assert backend[0]["base_url"] == "https://api.openai.com/v1"
    assert backend[0]["kind"] == "remote"
    # No network here: the failure names the way out, and never the key.
    assert proc.returncode == 5, proc.stderr
    assert "--local" in proc.stderr and "VOICEBOT_BASE_URL" in proc.stderr
    assert "sk-test" not in proc.stderr + proc.stdout

    proc = run_voicebot(["ask", "--text", "what time is it", "--no-play", "--json",
                         "--local"], home, env={"OPENAI_API_KEY": "sk-test-not-a-real-key-000"})
    assert proc.returncode == 0, proc.stderr
    kinds = {e["kind"] for e in json_lines(proc.stdout) if e["type"] == "backend"}
    assert kinds == {"embedded"}


def test_text_only_reply_writes_no_empty_wav(scripted: ThreadedScriptedServer, home: Path,
                                             tmp_path: Path) -> None:
    scripted.reply(Reply(pieces=[sse(delta(role="assistant"), delta(content="Just text."),
                                     finish("stop"))]))
    out = tmp_path / "reply.wav"
    proc = run_voicebot(["ask", "--text", "hi", "--no-play", "--output", str(out),
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    assert "Just text." in proc.stdout
    assert not out.exists()
    assert proc.stderr.splitlines() == [
        f"no audio arrived (a text-only reply): {out} was not written"]


def test_v_is_voicebots_detail_and_vv_the_libraries(scripted: ThreadedScriptedServer,
                                                    home: Path) -> None:
    for flag, want_httpcore in (("-v", False), ("-vv", True)):
        scripted.reply(Reply(pieces=[_reply().body()]))
        proc = run_voicebot(["ask", "--text", "hi", "--no-play", flag,
                             "--base-url", scripted.base_url], home)
        assert proc.returncode == 0, proc.stderr
        assert ("httpcore" in proc.stderr) == want_httpcore, proc.stderr
        assert "latency" in proc.stderr  # -v: the stage figures on exit


def test_chat_says_listening_and_which_backend_with_v(scripted: ThreadedScriptedServer,
                                                      home: Path, tmp_path: Path) -> None:
    said, _ = compose([0.3, "hello there", 0.9], 16_000)
    path = tmp_path / "hello.wav"
    write_wav(str(path), said, 16_000)
    scripted.reply(Reply(pieces=[_reply().body()]))
    proc = run_voicebot(["chat", "--input", str(path), "--fast", "--no-play", "-v",
                         "--base-url", scripted.base_url], home)
    assert proc.returncode == 0, proc.stderr
    assert f"using {scripted.base_url}" in proc.stderr
    assert os.path.basename(str(path)) in proc.stderr


def test_voices_lists_the_local_voices_and_openais(home: Path) -> None:
    from voicebot.speech.voices import OPENAI_VOICES, VOICES

    proc = run_voicebot(["voices"], home)
    assert proc.returncode == 0, proc.stderr
    for name in VOICES:
        assert any(line.split()[:1] == [name] for line in proc.stdout.splitlines()), name
    assert "OpenAI's servers accept: " + ", ".join(OPENAI_VOICES) in proc.stdout
    records = json_lines(run_voicebot(["voices", "--json"], home).stdout)
    assert {r["name"] for r in records if r["server"] == "embedded"} == set(VOICES)
    assert [r["name"] for r in records if r["server"] == "openai"] == list(OPENAI_VOICES)


def test_ctrl_c_during_start_up_prints_no_traceback(home: Path, tmp_path: Path) -> None:
    """Whenever Ctrl-C comes (loading modules, parsing, starting the embedded server,
    listening), the command ends quietly: no traceback, exit 130."""
    said, _ = compose([0.3, "hello there", 3.0], 16_000)
    path = tmp_path / "hello.wav"
    write_wav(str(path), said, 16_000)
    # (Not earlier than 0.15 s: the interpreter's own start-up, importing `site`, is
    # Python's and prints its own "Fatal Python error" on Ctrl-C.)
    for delay_s in (0.15, 0.3, 0.6, 1.2):
        proc = subprocess.Popen(VOICEBOT + ["chat", "--input", str(path), "--no-play"],
                                env=clean_env(home), cwd=home, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert "Traceback" not in err + out, (delay_s, err)
        assert proc.returncode == 130, (delay_s, proc.returncode, err)


def test_ctrl_c_before_main_can_handle_it_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C while the parser is built (before main's own handler: CI caught one in
    argparse on Python 3.13) ends as quietly as a later one: one line, exit 130."""
    import voicebot.cli
    from voicebot.__main__ import run

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(voicebot.cli, "main", interrupted)
    try:
        with pytest.raises(SystemExit) as exit_:
            run()
    except KeyboardInterrupt:  # not re-raised: it would stop the whole test session
        pytest.fail("Ctrl-C escaped run(): Python prints its traceback")
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"
