"""Speech recognition in worker processes, so that a decode never stalls its caller.

pocketsphinx holds the GIL for its whole decode (140–310 ms per question here). The
embedded server runs inside ``voicebot chat``'s own process, so a decode there stopped
the chat's event loop and its capture thread for that long (a later endpoint with
preemptive turns, chopped kiosk earcons). :class:`ProcessRecognizer` meets the
:class:`~voicebot.speech.engines.Recognizer` protocol by handing each utterance to a
worker process that loaded the model once; the calling thread waits on a socket with
the GIL released. Synthesis stays in-process: eSpeak NG runs through ctypes, which releases
the GIL (a 5 ms ticker thread was delayed ≤ 0.5 ms while it ran, against 141 ms during
a decode).

Why not ``concurrent.futures.ProcessPoolExecutor``: its workers hold both ends of the
task queue, so a parent killed with SIGKILL leaves them blocked forever (checked on
3.11: the spawned worker was still there), and one worker that dies breaks the whole
executor for every request in flight. Here each worker is a fresh interpreter
(``python -m voicebot.speech.worker``, never a ``fork`` of the threaded server) with
one end of a socket pair whose other end only the parent holds: the worker sees EOF
and exits whenever the parent goes, however it goes; a dead worker fails only its own
request, and the next request starts a fresh one. ``multiprocessing.connection`` frames
and pickles the messages. Workers start when needed: one per concurrent request, up to
``max_workers``. An idle worker blocks in ``recv``: it costs no CPU.

Threads: :meth:`ProcessRecognizer.transcribe` blocks its (worker) thread; any number of
threads may call it. The worker process runs :func:`_serve`.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, InputError, VoicebotError

__all__ = ["ProcessRecognizer", "main"]

log = logging.getLogger("voicebot.speech")

#: A worker asked to stop gets this long to exit before it is killed.
_STOP_TIMEOUT_S = 2.0
# Errors a worker sends back by name; anything else arrives as a VoicebotError.
_ERRORS: dict[str, type[VoicebotError]] = {
    cls.__name__: cls for cls in (VoicebotError, ConfigError, InputError)}


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """The worker process: load the recogniser once, then answer requests until EOF.

    The first message is the phrase list; then requests are ``(samples, sample_rate)``.
    Answers are ``("ok", text)`` or ``("error", class_name, message)``; the first one
    says whether the recogniser loaded.
    """
    from .recognize import PocketsphinxRecognizer
    try:
        phrases = conn.recv()
        recognizer = PocketsphinxRecognizer(phrases, max_decoders=1)
    except (EOFError, OSError):
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(_error_answer(exc))
        return
    conn.send(("ok", ""))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent closed the socket or exited
            return
        try:
            answer: tuple[str, ...] = ("ok", recognizer.transcribe(*request))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            answer = _error_answer(exc)
        conn.send(answer)


def _error_answer(exc: Exception) -> tuple[str, str, str]:
    if isinstance(exc, VoicebotError):
        return ("error", type(exc).__name__, str(exc))
    return ("error", "VoicebotError", f"speech recognition failed: {type(exc).__name__}: "
            f"{exc}")


def _raise_answer(answer: tuple[str, ...]) -> str:
    if answer[0] == "ok":
        return answer[1]
    raise _ERRORS.get(answer[1], VoicebotError)(answer[2])


class _WorkerDied(Exception):
    """The worker process ended while the parent waited for it."""


class _Worker:
    """One worker process and the parent's end of its socket; one thread uses it at a time.

    The worker is ``python -m voicebot.speech.worker FD``, a fresh interpreter that
    imports only the recogniser: multiprocessing's ``spawn`` would also re-import the
    parent's ``__main__`` in it (pytest, the CLI, or a user's script without a main
    guard, which then fails to start the worker at all).
    """

    def __init__(self, phrases: tuple[str, ...]) -> None:
        parent_end, child_end = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL,
                # One decode at a time, and numpy's work here is small: no BLAS pool.
                env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                # Its own session: Ctrl-C in a terminal signals the foreground process
                # group, and the parent decides when its workers stop (EOF on the
                # socket); a worker must not die mid-request or print a traceback.
                start_new_session=True)
        except OSError as exc:
            parent_end.close()
            raise VoicebotError(f"the speech recogniser's process could not start: {exc}"
                                ) from None
        finally:
            child_end.close()  # only the worker holds it now: its exit is our EOF
        self._conn = multiprocessing.connection.Connection(parent_end.detach())
        try:
            self._send(phrases)
            _raise_answer(self._recv())
        except _WorkerDied:
            how = self.exit_description()
            self.stop()
            raise VoicebotError(f"the speech recogniser's process {how} while loading"
                                ) from None
        except BaseException:
            self.stop()
            raise

    def _send(self, message: object) -> None:
        try:
            self._conn.send(message)
        except OSError:
            raise _WorkerDied from None

    def _recv(self) -> tuple[str, ...]:
        try:
            answer: tuple[str, ...] = self._conn.recv()
        except (EOFError, OSError):
            raise _WorkerDied from None
        return answer

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        self._send((samples, sample_rate))
        return _raise_answer(self._recv())

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_description(self) -> str:
        try:
            code = self.process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"

    def stop(self) -> None:
        """Close the socket (the worker exits at EOF); kill it if it does not."""
        self._conn.close()
        try:
            self.process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ProcessRecognizer:
    """:class:`~voicebot.speech.engines.Recognizer` running pocketsphinx in worker processes.

    ``phrases`` as for :class:`~voicebot.speech.recognize.PocketsphinxRecognizer`. Up to
    ``max_workers`` utterances decode at once, each in its own process (~135 MB RSS
    each, most of it pocketsphinx's models); workers start on demand (about a second
    each: :meth:`warm_up` starts the first one ahead) and stay until :meth:`close`. A worker that dies fails the request it was
    serving with a :class:`~voicebot.errors.VoicebotError`; the next request gets a
    fresh worker. Thread-safe; methods block (call them from worker threads).
    """

    def __init__(self, phrases: Sequence[str] = (), *, max_workers: int = 2) -> None:
        self._phrases = tuple(phrases)
        self._max_workers = max(1, max_workers)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._started = 0  # workers idle, busy or starting
        self._starting = 0  # workers loading
        self._waiting = 0  # callers in _acquire
        self._closed = False

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """As :meth:`PocketsphinxRecognizer.transcribe
        <voicebot.speech.recognize.PocketsphinxRecognizer.transcribe>`, decoded in a
        worker process; the calling thread waits with the GIL released."""
        if np.size(samples) == 0 and sample_rate > 0:
            return ""
        worker = self._acquire()
        healthy = False
        try:
            text = worker.transcribe(np.asarray(samples, dtype=np.float32), sample_rate)
            healthy = True
            return text
        except _WorkerDied:
            raise VoicebotError("speech recognition failed: its worker process "
                                f"{worker.exit_description()}; the next request starts "
                                "a new one") from None
        except VoicebotError:
            healthy = True  # the worker answered: it is fine, the request was not
            raise
        finally:
            self._release(worker, healthy)

    def warm_up(self) -> None:
        """Start one worker now, if none is running, so the first request need not wait
        for it to load. Does nothing once closed."""
        with self._cond:
            if self._closed or self._started:
                return
            self._started += 1
            self._starting += 1
        self._start()

    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (for tests and benchmarks)."""
        with self._cond:
            return [w.process.pid for w in self._idle]

    def close(self) -> None:
        """Stop every worker: idle ones now, busy ones when their request ends; waits
        for those still loading (up to ~30 s). Later calls to :meth:`transcribe` raise :class:`~voicebot.errors.VoicebotError`."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        with self._cond:  # a worker still loading stops itself as soon as it has loaded
            self._cond.wait_for(lambda: self._starting == 0, _STOP_TIMEOUT_S + 30)

    def __enter__(self) -> ProcessRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _acquire(self) -> _Worker:
        """An idle worker for this thread, the first one free.

        A new worker starts only while the callers waiting outnumber the workers
        starting (a request that comes in while the warm-up loads the first worker
        waits for it rather than loading a second). When workers exist but all are
        busy, the new one loads on a thread of its own and this caller takes whichever
        is free first: a decode ends in ~0.3 s, a worker takes ~1 s to load.
        """
        with self._cond:
            self._waiting += 1
        try:
            while True:
                dead: list[_Worker] = []
                worker = None
                start = background = False
                with self._cond:
                    if self._closed:
                        raise VoicebotError("speech recognition has shut down")
                    while self._idle and worker is None:
                        candidate = self._idle.pop()
                        if candidate.alive():
                            worker = candidate
                        else:  # died while idle: no request was lost
                            dead.append(candidate)
                            self._started -= 1
                    if worker is None and not dead:
                        start = (self._started < self._max_workers
                                 and self._starting < self._waiting)
                        if start:
                            background = self._started > self._starting  # some are busy
                            self._started += 1
                            self._starting += 1
                        else:
                            self._cond.wait()
                for candidate in dead:
                    candidate.stop()
                if worker is not None:
                    return worker
                if background:
                    threading.Thread(target=self._start_quietly, daemon=True,
                                     name="voicebot-recognizer-start").start()
                elif start:
                    self._start()  # errors (a bad phrase list) reach this caller
        finally:
            with self._cond:
                self._waiting -= 1

    def _start(self) -> None:
        """Start a worker (counted in ``_started`` and ``_starting`` by the caller) and
        put it in the idle list, for whichever caller comes first; raise if it does not
        load."""
        try:
            worker = _Worker(self._phrases)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._started -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            closed = self._closed
            if not closed:
                self._idle.append(worker)
        if closed:  # close() came meanwhile, and waits for this
            worker.stop()
        with self._cond:
            self._starting -= 1
            self._cond.notify_all()

    def _start_quietly(self) -> None:
        """:meth:`_start` on its own thread: a failure there is logged (the callers
        waiting use the workers that already run)."""
        try:
            self._start()
        except VoicebotError as exc:
            log.warning("an extra speech recognition worker did not start: %s", exc)

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(worker)
                self._cond.notify_all()
                return
            self._started -= 1
            self._cond.notify_all()
        worker.stop()


def main(argv: Sequence[str]) -> int:
    """``python -m voicebot.speech.worker FD``: serve the parent on socket ``FD``."""
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m voicebot.speech.worker FD (started by ProcessRecognizer)",
              file=sys.stderr)
        return 2
    with multiprocessing.connection.Connection(int(argv[1])) as conn:
        try:
            _serve(conn)
        except OSError:  # an answer to a parent that has gone (Ctrl-C): nobody to tell
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
