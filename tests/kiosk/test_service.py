"""The kiosk's systemd unit: what deploy/ ships is what the command writes, and
systemd-analyze verify finds nothing wrong with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.errors import ConfigError
from voicebot.kiosk.service import UnitOptions, install, render_unit

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "voicebot-kiosk.service"


def test_deployed_unit_is_the_rendered_default() -> None:
    assert DEPLOYED.read_text() == render_unit(UnitOptions())


def test_unit_has_what_a_kiosk_needs() -> None:
    lines = render_unit(UnitOptions(user="kiosk", uid=1234)).splitlines()
    for line in ("Type=notify", "WatchdogSec=30", "Restart=always", "User=kiosk",
                 "SupplementaryGroups=audio", "StartLimitIntervalSec=0",
                 "Environment=XDG_RUNTIME_DIR=/run/user/1234",
                 "ExecStart=/opt/voicebot/.venv/bin/voicebot kiosk --config "
                 "/etc/voicebot/kiosk.toml"):
        assert line in lines


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (scripts/bootstrap --test installs systemd)")
    exe = Path(sys.executable).parent / "voicebot"
    unit = tmp_path / "voicebot-kiosk.service"
    unit.write_text(render_unit(UnitOptions(executable=str(exe))))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if str(unit) in line or "voicebot-kiosk" in line]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


def test_install_writes_the_unit_for_a_user(tmp_path: Path) -> None:
    path = tmp_path / "voicebot-kiosk.service"
    install(user="nobody", config_path=str(tmp_path / "kiosk.toml"), path=str(path),
            executable="/usr/bin/true")
    text = path.read_text()
    assert "User=nobody" in text and f"--config {tmp_path / 'kiosk.toml'}" in text
    assert "XDG_RUNTIME_DIR=/run/user/65534" in text


def test_install_refuses_root_and_unknown_users(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not run as root"):
        install(user="root", config_path=None, path=str(tmp_path / "u"))
    with pytest.raises(ConfigError, match="no user 'no-such-user-here'"):
        install(user="no-such-user-here", config_path=None, path=str(tmp_path / "u"))
    with pytest.raises(ConfigError, match="cannot write"):
        install(user="nobody", config_path=None, path=str(tmp_path / "no" / "dir" / "u"))
