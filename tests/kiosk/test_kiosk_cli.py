"""``voicebot kiosk`` on the command line: bad settings fail in one line before any
device opens; --install-service writes nothing without a user to run as."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICEBOT_", "OPENAI_"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run([sys.executable, "-m", "voicebot", "kiosk", *args], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args, words", [
    (["--push-to-talk", "ctrl-x"], "a key must be one character"),
    (["--wake-word", "no_such_word"], "no_such_word"),
    (["--install-service", "--service-user", "no-such-user-here"], "no user"),
])
def test_bad_settings_fail_in_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr, lines


def test_config_file_error_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("[kiosk]\nwake_word = 7\n")
    proc = _run(["--config", str(config)], tmp_path)
    assert proc.returncode == 2 and "wake_word has the wrong type" in proc.stderr, proc.stderr
