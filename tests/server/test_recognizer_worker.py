"""voicebot.speech.worker: recognition in worker processes. Real worker processes, real
pocketsphinx, eSpeak NG speech; in-process recognition of the same audio is the reference.

Worker processes are found from outside, in /proc: children of this process running
``voicebot.speech.worker``, less those already there when the test began (other tests'
servers, such as the session's shared one, keep theirs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from serverhelp import collect, spoken, sse_events
from speech import synth
from voicebot.errors import ConfigError, InputError, VoicebotError
from voicebot.server.assistant import SKILL_PHRASES
from voicebot.server.completion import Engines, ServerState
from voicebot.server.serve import start_embedded
from voicebot.speech.recognize import PocketsphinxRecognizer
from voicebot.speech.worker import ProcessRecognizer

QUESTIONS = ["what time is it", "what is twelve times seven", "set a timer for five minutes",
             "what is the weather in paris", "repeat after me the cat sat on the mat"]
#: Long free speech (the general model: seconds of decoding), to kill a worker mid-request.
LONG = ("the quick brown fox jumps over the lazy dog while the orchestra plays a slow "
        "waltz in the park and nobody listens to the weather report at all")


def _worker_children(parent: int) -> list[int]:
    """Live (not zombie) worker processes whose parent is ``parent``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z" and b"voicebot.speech.worker" in cmdline:
            found.append(int(name))
    return found


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether ``pid`` has exited (a zombie whose other threads are gone too: only then
    can its parent reap it) or been reaped, within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "Z" and len(os.listdir(f"/proc/{pid}/task")) == 1:
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def in_process() -> PocketsphinxRecognizer:
    return PocketsphinxRecognizer(SKILL_PHRASES)


@pytest.fixture
def others() -> set[int]:
    """The worker processes of this process that the test did not start."""
    return set(_worker_children(os.getpid()))


def _new_workers(others: set[int]) -> list[int]:
    return sorted(set(_worker_children(os.getpid())) - others)


@pytest.fixture
def workers(others: set[int]) -> Iterator[ProcessRecognizer]:
    with ProcessRecognizer(SKILL_PHRASES, max_workers=2) as rec:
        yield rec
    assert _new_workers(others) == []


def test_same_text_as_in_process_recognition(workers: ProcessRecognizer,
                                             in_process: PocketsphinxRecognizer) -> None:
    for text in QUESTIONS:
        for rate, voice in ((16_000, "en-us"), (44_100, "en-gb")):
            audio = synth(text, rate, voice=voice)
            assert workers.transcribe(audio, rate) == in_process.transcribe(audio, rate)
    assert len(workers.worker_pids()) == 1  # one caller at a time: one worker
    assert workers.transcribe(np.zeros(0, np.float32), 16_000) == ""


def test_workers_grow_with_concurrent_callers_up_to_the_limit(
        workers: ProcessRecognizer, in_process: PocketsphinxRecognizer,
        others: set[int]) -> None:
    audio = [synth(text) for text in QUESTIONS]
    expected = [in_process.transcribe(a, 16_000) for a in audio]
    got: dict[int, str] = {}

    def ask(i: int) -> None:
        got[i] = workers.transcribe(audio[i % len(audio)], 16_000)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(6)] == [expected[i % len(audio)] for i in range(6)]
    assert 1 <= len(workers.worker_pids()) <= 2
    assert len(_new_workers(others)) <= 2  # a second one may still be loading


def test_errors_come_back_as_voicebot_errors_and_the_worker_stays(
        workers: ProcessRecognizer) -> None:
    workers.warm_up()
    (pid,) = workers.worker_pids()
    with pytest.raises(InputError, match="sample rate"):
        workers.transcribe(synth("hello"), 0)
    with pytest.raises(InputError, match="mono"):
        workers.transcribe(np.zeros((2, 2, 2), np.float32), 16_000)
    assert workers.worker_pids() == [pid]
    assert workers.transcribe(synth("hello"), 16_000) == "hello"


def test_a_bad_phrase_list_is_a_config_error(others: set[int]) -> None:
    with ProcessRecognizer(["hello qwzxv"]) as rec:
        with pytest.raises(ConfigError, match="qwzxv"):
            rec.transcribe(synth("hello"), 16_000)
        assert rec.worker_pids() == []
    assert _new_workers(others) == []


def test_a_worker_killed_mid_request_fails_that_request_and_the_next_gets_a_new_one(
        workers: ProcessRecognizer) -> None:
    workers.warm_up()
    (pid,) = workers.worker_pids()
    idle_ticks = _cpu_ticks(pid)  # an idle worker blocks in recv: its CPU time stands still
    outcome: list[BaseException | str] = []

    def ask() -> None:
        try:
            outcome.append(workers.transcribe(synth(LONG, wpm=120), 16_000))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    caller = threading.Thread(target=ask)
    caller.start()
    while _cpu_ticks(pid) == idle_ticks:  # decoding has begun
        assert caller.is_alive(), outcome
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    caller.join(30)
    assert not caller.is_alive()
    (error,) = outcome
    assert isinstance(error, VoicebotError)
    assert str(error) == ("speech recognition failed: its worker process was killed by "
                          f"signal {int(signal.SIGKILL)}; the next request starts a new one")
    assert _gone(pid)
    assert workers.transcribe(synth("what time is it"), 16_000) == "what time is it"
    assert workers.worker_pids() not in ([], [pid])


def test_a_worker_that_died_while_idle_is_replaced_without_an_error(
        workers: ProcessRecognizer) -> None:
    workers.warm_up()
    (pid,) = workers.worker_pids()
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid)
    assert workers.transcribe(synth("hello"), 16_000) == "hello"
    (new_pid,) = workers.worker_pids()
    assert new_pid != pid


def test_close_stops_every_worker_and_later_calls_fail_clearly(others: set[int]) -> None:
    rec = ProcessRecognizer(SKILL_PHRASES, max_workers=2)
    threads = [threading.Thread(target=rec.transcribe, args=(synth(q), 16_000))
               for q in QUESTIONS[:3]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _new_workers(others)
    rec.close()
    assert _new_workers(others) == []
    with pytest.raises(VoicebotError, match="shut down"):
        rec.transcribe(synth("hello"), 16_000)
    rec.warm_up()  # no-op once closed
    assert _new_workers(others) == []


def test_workers_exit_when_their_parent_is_killed() -> None:
    code = ("import sys\n"
            "from voicebot.speech.worker import ProcessRecognizer\n"
            "rec = ProcessRecognizer(['hello'])\n"
            "rec.warm_up()\n"
            "print(rec.worker_pids()[0], flush=True)\n"
            "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _worker_children(parent.pid) == [pid]
    finally:
        parent.kill()
        parent.wait()
    assert _gone(pid)


def test_the_embedded_server_recognises_in_a_worker_and_stops_it_with_itself(
        others: set[int]) -> None:
    srv = start_embedded()  # warm-up starts the first worker
    try:
        with httpx.Client(base_url=srv.base_url, timeout=60) as c:
            res = collect(sse_events(c, {"messages": [spoken("what is two plus two")]}))
        assert res["content"] == f"2 plus 2 is {2 + 2}."
        assert len(_new_workers(others)) == 1
    finally:
        srv.stop()
    assert _new_workers(others) == []


def test_in_process_recognition_is_still_a_choice(others: set[int]) -> None:
    engines = Engines(recognizer_workers=0)
    with start_embedded(state=ServerState(engines=engines), warm_up=False) as srv, \
            httpx.Client(base_url=srv.base_url, timeout=60) as c:
        res = collect(sse_events(c, {"messages": [spoken("what is two plus two")]}))
        assert res["content"] == f"2 plus 2 is {2 + 2}."
        assert _new_workers(others) == []
    assert isinstance(engines.recognizer(), PocketsphinxRecognizer)


def test_a_worker_whose_parent_left_before_its_answer_exits_quietly() -> None:
    """The parent sends the phrase list and goes (Ctrl-C while the embedded server
    starts): the worker's first answer meets a closed socket. It must end with exit
    status 0 and nothing on stderr (it shares the terminal: a traceback there is what
    the user sees)."""
    import socket

    parent_end, child_end = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-m", "voicebot.speech.worker",
                             str(child_end.fileno())], pass_fds=[child_end.fileno()],
                            stderr=subprocess.PIPE, text=True)
    child_end.close()
    from multiprocessing.connection import Connection

    conn = Connection(parent_end.detach())
    conn.send(("hello",))
    conn.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == "", err

