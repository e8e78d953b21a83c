"""Every runtime dependency installs from wheels on a Raspberry Pi (Bookworm, aarch64,
CPython 3.11, glibc 2.36): ``scripts/check-wheels`` resolves them against PyPI.

Needs PyPI (CI has it); pip's cache makes a re-run take seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check-wheels"


@pytest.mark.timeout(600)
def test_every_dependency_has_an_aarch64_wheel_for_bookworm() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = proc.stdout.splitlines()[1:]
    # The kiosk extra is part of the check: its wake-word runtime among the wheels.
    assert any("pyopen_wakeword" in w and "aarch64" in w for w in wheels), proc.stdout
    assert not [w for w in wheels if "x86_64" in w], proc.stdout
