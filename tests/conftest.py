from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from vdev import audio_available

_LOCK = "/tmp/voicebot-test-audio.lock"

# CI must be reproducible: the same examples on every run (a property that fails
# there fails locally too). Locally, hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the devices is an ``audio`` test, marked or not.

    So ``-m "not audio"`` (what scripts/test runs on the other Python versions) selects
    exactly the tests that need no audio device.
    """
    for item in items:
        if "audio_devices" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.audio)


@pytest.fixture
def audio_devices() -> Iterator[None]:
    """The PipeWire virtual mic and speaker, held exclusively for this test.

    scripts/test starts them (scripts/audio-up). Under CI they must be there: a
    missing sound server fails the test instead of skipping it.
    """
    if not audio_available():
        if os.environ.get("CI") or os.environ.get("VOICEBOT_TEST_AUDIO"):
            pytest.fail("PipeWire virtual devices are not running (scripts/audio-up)")
        pytest.skip("no PipeWire virtual devices; run through ./scripts/test")
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
