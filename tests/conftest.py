from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import settings

from vdev import audio_available, rig_report, start_rig

_LOCK = "/tmp/voicebot-test-audio.lock"

# CI must be reproducible: the same examples on every run (a property that fails
# there fails locally too). Locally, hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


# Tests without an audio device whose assertions are about wall-clock time (pacing,
# real-time frame handling, processes racing a deadline) or that load both cores
# (browsers, nginx pairs, load runs). scripts/test runs the other tests of the extra
# Python versions side by side and these one version after the other, alone.
# A node id or a prefix of one (a whole module).
_REALTIME = (
    "tests/bridge/test_bridge_abuse.py",
    "tests/bridge/test_bridge_bench.py",
    "tests/bridge/test_bridge_nginx.py",
    "tests/bridge/test_bridge_page.py",
    "tests/bridge/test_bridge_speech.py",
    "tests/bridge/test_bridge_twilio.py",
    "tests/capture/test_capture_sources.py::test_file_source_paced_runs_in_real_time",
    "tests/cli/test_cli_ask.py::test_words_print_as_they_arrive_without_a_speaker",
    "tests/cli/test_cli_chat.py::test_input_file_is_paced_in_real_time_without_fast",
    "tests/turntaking/test_many_conversations.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the devices is an ``audio`` test, marked or not.

    So ``-m "not audio"`` (what scripts/test runs on the other Python versions) selects
    exactly the tests that need no audio device. The tests listed in ``_REALTIME`` are
    ``realtime`` tests (see there).
    """
    for item in items:
        if "audio_devices" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.audio)
        if item.nodeid.startswith(_REALTIME):
            item.add_marker(pytest.mark.realtime)


# The tests that found the rig down, with what was known then (printed at the end).
_RIG_RESTARTS = pytest.StashKey[list[str]]()


def _restart_rig(config: pytest.Config, what: str) -> str | None:
    """Start the rig found down again and record ``what`` with its report for the
    summary. None when it is up again; else why not, with the report."""
    report = rig_report()
    try:
        start_rig()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"scripts/audio-up could not start it ({exc})\n{report}"
    config.stash.setdefault(_RIG_RESTARTS, []).append(f"{what}\n{report}")
    return None


@pytest.fixture
def audio_devices(request: pytest.FixtureRequest) -> Iterator[None]:
    """The PipeWire virtual mic and speaker, held exclusively for this test.

    scripts/test starts them (scripts/audio-up). Under CI they must be there: a
    missing sound server fails the test instead of skipping it. A rig that was
    running (VOICEBOT_TEST_AUDIO) and is found down is started again, once per test,
    and the test goes on; what was known about its end is printed in the summary.
    The rig is test equipment: one CI run saw it die between the tests with no trace
    (every later audio test failed); its daemons' logs now say how each one ended.
    """
    expected = bool(os.environ.get("CI") or os.environ.get("VOICEBOT_TEST_AUDIO"))
    if not expected and not audio_available():
        pytest.skip("no PipeWire virtual devices; run through ./scripts/test")
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not audio_available():
            failed = _restart_rig(request.config, f"{request.node.nodeid}: the rig was "
                                  "down and was started again")
            if failed is not None:
                pytest.fail(f"PipeWire virtual devices are not running and {failed}")
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """An audio test that failed while the rig died under it runs once more, on a rig
    started again (its fixtures as they are); the summary says so, with what was
    known of the rig's end. A failure with the rig alive is the test's own."""
    try:
        return (yield)
    except Exception as failure:
        if item.get_closest_marker("audio") is None or audio_available():
            raise
        if _restart_rig(item.config, f"{item.nodeid}: failed with the rig down; the rig "
                        "was started again and the test run once more") is not None:
            raise failure from None
        item.runtest()
        return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for restart in terminalreporter.config.stash.get(_RIG_RESTARTS, []):
        terminalreporter.write_sep("=", "PipeWire rig restarted", yellow=True)
        terminalreporter.write_line(restart)


# Under CI a skipped test is a failure: what a test needs (the sound server, a browser,
# nginx, libspeexdsp, ffmpeg's encoders) is installed by scripts/bootstrap, so a skip
# there means a missing install step, not a machine without the thing. These reasons
# are about the interpreter, not the machine, and may skip anywhere.
_SKIPS_ALLOWED_IN_CI = ("fixed in CPython",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith(_SKIPS_ALLOWED_IN_CI):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI (a missing install step in scripts/bootstrap?): {reason}"
