"""The ``voicebot`` command: ask, chat, devices, selftest, serve.

Parses arguments, resolves settings and hands over to :mod:`voicebot.pipeline`.
Every failure a user can cause ends in one line on stderr and a non-zero exit code;
``-v`` adds the traceback and debug logging.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, NoReturn

from . import __version__
from .config import resolve
from .console import Console
from .errors import Redactor, VoicebotError


def _shared(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection and voice")
    g.add_argument("--base-url", help="API base URL, e.g. http://127.0.0.1:8000/v1 "
                   "(env VOICEBOT_BASE_URL; default: OpenAI when an API key is set, "
                   "else the embedded local server)")
    g.add_argument("--local", action="store_true", default=None,
                   help="use the embedded offline server, whatever else is configured")
    g.add_argument("--api-key", help="API key (env VOICEBOT_API_KEY, then OPENAI_API_KEY)")
    g.add_argument("--model", help="model name (default gpt-4o-audio-preview)")
    g.add_argument("--voice", help="voice name, e.g. alloy, echo, shimmer (default alloy)")
    g.add_argument("--ssml", action="store_true", default=None,
                   help="ask the server to render SSML (ssml_enabled)")
    g.add_argument("--system", help="system prompt")
    g.add_argument("--timeout", type=float, dest="stall_timeout_s", metavar="SECONDS",
                   help="give up when the stream stalls this long (default 30)")
    g.add_argument("--input-device", help="microphone: index or name (see `voicebot devices`)")
    g.add_argument("--output-device", help="speaker: index or name (see `voicebot devices`)")
    g.add_argument("--config", metavar="FILE", help="TOML config file")
    g.add_argument("-v", "--verbose", action="count", default=None,
                   help="show details (-vv: also the HTTP libraries' debug lines)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``voicebot`` parser; subparsers are of the same one-line-error class."""
    parser = _Parser(
        prog="voicebot", description="A voice assistant over a streaming chat-completions API.")
    parser.add_argument("--version", action="version", version=f"voicebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ask = sub.add_parser("ask", help="one turn: text, audio and/or image in, spoken answer out")
    ask.add_argument("--text", help="what to say, as text")
    ask.add_argument("--audio", metavar="FILE", help="audio file to send as the turn's speech")
    ask.add_argument("--image", metavar="FILE_OR_URL", help="image file or URL to send along")
    ask.add_argument("--output", metavar="WAV", help="write the reply audio (24 kHz mono WAV)")
    ask.add_argument("--no-play", action="store_true", help="do not play the reply")
    ask.add_argument("--json", action="store_true", help="one JSON object per line per event")
    _shared(ask)

    chat = sub.add_parser("chat", help="hands-free conversation on microphone and speaker")
    chat.add_argument("--input", metavar="FILE", help="audio file standing in for the microphone")
    chat.add_argument("--fast", action="store_true",
                      help="with --input: read the file as fast as possible, not in real time")
    chat.add_argument("--max-turns", type=int, metavar="N", help="stop after N turns")
    chat.add_argument("--output-dir", metavar="DIR", help="keep each reply as DIR/reply-NNN.wav")
    chat.add_argument("--no-play", action="store_true", help="do not play replies")
    chat.add_argument("--barge-in", action=argparse.BooleanOptionalAction, default=None,
                      help="keep listening while a reply plays and stop it when you speak "
                      "over it (default: on with echo cancellation; else needs headphones)")
    _aec_flag(chat)
    chat.add_argument("--json", action="store_true", help="one JSON object per line per event")
    _shared(chat)

    kiosk = sub.add_parser("kiosk", help="always listening for a wake word (or a talk key), "
                           "with earcons, spoken timers and a systemd service")
    kiosk.add_argument("--wake-word", metavar="NAME", help="a built-in wake word (hey_jarvis, "
                       "okay_nabu, hey_mycroft, alexa), a .tflite path, or none "
                       "(config wake_word; default hey_jarvis)")
    kiosk.add_argument("--push-to-talk", metavar="KEY", help="a terminal key that is the talk "
                       "button (one character, or space/enter/tab); without a wake word "
                       "only speech while it is on counts (config push_to_talk)")
    kiosk.add_argument("--muted", action="store_true", default=None,
                       help="start muted (the mute key, default m, or the screen unmutes)")
    kiosk.add_argument("--no-earcons", dest="earcons", action="store_false", default=None,
                       help="no sounds on wake word, thinking, done, error, timer")
    _aec_flag(kiosk, "; with it, the wake word stops a reply")
    kiosk.add_argument("--screen", action="store_true", help="serve the status screen")
    kiosk.add_argument("--port", type=int, default=8766, help="the status screen's port "
                       "(default 8766)")
    kiosk.add_argument("--install-service", action="store_true",
                       help="write the systemd unit (/etc/systemd/system/voicebot-kiosk.service) "
                       "and say how to start it, then exit (run with sudo)")
    kiosk.add_argument("--service-user", metavar="USER", help="with --install-service: the "
                       "unprivileged user (in the audio group) it runs as (default: who ran sudo)")
    kiosk.add_argument("--enroll", nargs="?", type=int, const=6, metavar="TAKES",
                       help="enrol one person: record them saying the wake word TAKES times "
                       "(default 6) and reading a few lines (about 2 min in all), then learn "
                       "a verifier from everyone enrolled so far, and exit")
    kiosk.add_argument("--enroll-from", nargs="+", metavar="WAV",
                       help="enrol from recordings instead (16 kHz mono 16-bit WAV, one take "
                       "of the wake word each)")
    kiosk.add_argument("--enroll-reading", nargs="+", metavar="WAV",
                       help="with --enroll-from: the same person reading the passage "
                       "(`python -m voicebot.kiosk.passage` prints it)")
    kiosk.add_argument("--enroll-lines", type=int, default=None, metavar="N",
                       help="with --enroll: read N Harvard sentences, each with a line of "
                       "words that sound like the wake word (default 10, about 90 s)")
    kiosk.add_argument("--enroll-reset", action="store_true",
                       help="forget everyone enrolled and the verifier, then exit")
    kiosk.add_argument("--json", action="store_true", help="one JSON object per line per event")
    _shared(kiosk)

    dev = sub.add_parser("devices", help="list audio input and output devices")
    dev.add_argument("--check", choices=["input", "output", "both"],
                     help="exit 0 only if the default device(s) can be opened; print nothing")
    dev.add_argument("-v", "--verbose", action="count", default=None,
                     help="say why a device is missing and how to fix it")

    st = sub.add_parser("selftest", help="play a chirp and a phrase on the speaker, record "
                        "them from the microphone: latency, levels, VAD; exit 0 pass, 1 fail")
    st.add_argument("--input", metavar="DEV", help="microphone: index or name "
                    "(default: the default input)")
    st.add_argument("--output", metavar="DEV", help="speaker: index or name "
                    "(default: the default output)")
    st.add_argument("--json", action="store_true", help="the result as one JSON object")
    st.add_argument("-v", "--verbose", action="count", default=None, help="show details")

    voices = sub.add_parser("voices", help="list the voices: the embedded server's, and "
                            "which names OpenAI's servers accept")
    voices.add_argument("--json", action="store_true", help="one JSON object per voice")

    br = sub.add_parser("bridge", help="serve conversations over websockets: a browser page, "
                        "programs, Twilio phone calls")
    br.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; "
                    "any other needs a token)")
    br.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    br.add_argument("--token", help="clients must send this token in their hello "
                    "(env VOICEBOT_BRIDGE_TOKEN)")
    br.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                    help="also accept browsers from this origin (scheme://host[:port]); "
                    "the bridge's own page always works (repeatable)")
    br.add_argument("--max-sessions", type=int, default=100, metavar="N",
                    help="more concurrent sessions are refused with 1013 (default 100)")
    br.add_argument("--idle-timeout", type=float, default=300.0, metavar="SECONDS",
                    help="close a session that sent nothing this long (default 300)")
    br.add_argument("--twilio-auth-token", help="validate Twilio's webhook signatures "
                    "(env TWILIO_AUTH_TOKEN)")
    br.add_argument("--json", action="store_true", help="notices as JSON lines")
    _shared(br)

    serve = sub.add_parser("serve", help="run the local server of the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--api-key", help="require Authorization: Bearer KEY")
    serve.add_argument("-v", "--verbose", action="count", default=None,
                       help="log one line per request (-vv: debug)")
    return parser


def _aec_flag(parser: argparse.ArgumentParser, more: str = "") -> None:
    parser.add_argument("--aec", choices=["auto", "on", "off"], default=None,
                        help="acoustic echo cancellation (default auto: on when libspeexdsp "
                        f"is installed and a speaker plays){more}")


_SETTING_FLAGS = ("base_url", "local", "api_key", "model", "voice", "ssml", "system", "stall_timeout_s",
                  "input_device", "output_device", "verbose", "barge_in", "aec", "wake_word",
                  "push_to_talk", "muted", "earcons")


class _RedactingFormatter(logging.Formatter):
    """Masks the API key in the whole formatted record, traceback text included."""

    def __init__(self, fmt: str, redact: Redactor) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def _redacting_record_factory(base: Callable[..., logging.LogRecord], redact: Redactor
                              ) -> Callable[..., logging.LogRecord]:
    # Handlers we do not own (uvicorn's, in the embedded server) format records with
    # their own formatters; masking the message when the record is made covers them.
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a broken format string: logging reports it when emitting
        record.msg, record.args = redact(message), ()
        return record
    make.redacting = True  # type: ignore[attr-defined]
    make.base = base  # type: ignore[attr-defined]
    return make


def setup_logging(verbose: int, redact: Redactor | None = None) -> None:
    """stderr logging: warnings only; voicebot's own detail with ``-v``; every
    library's debug lines (httpx, httpcore, uvicorn) too with ``-vv``. Never a secret.

    Main thread, before anything logs. Safe to call again (replaces its own handler).
    ``redact`` masks the run's secrets in every record (it may learn them later).
    """
    redact = redact if redact is not None else Redactor()
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _RedactingFormatter)]:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s", redact))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    factory = logging.getLogRecordFactory()
    factory = getattr(factory, "base", factory)  # ours from an earlier call: replace it
    logging.setLogRecordFactory(_redacting_record_factory(factory, redact))
    # Libraries log at INFO/DEBUG with request details (httpcore: every socket event);
    # that is for -vv, not for someone who wants to know what voicebot is doing.
    for name in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access",
                 "hpack", "multipart", "asyncio"):
        logging.getLogger(name).setLevel(logging.NOTSET if verbose >= 2 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) on the main thread.

    Returns the exit code; the caller passes it to ``sys.exit``. Failures a user can
    cause (every :class:`VoicebotError`) print one line on stderr, also with ``-v``.
    """
    args = build_parser().parse_args(argv)
    verbosity = int(getattr(args, "verbose", None) or 0)
    verbose = verbosity > 0
    if getattr(args, "verbose", None) is not None:
        args.verbose = True  # the setting is a flag; the count only tunes logging
    redact = Redactor(getattr(args, "api_key", None))
    setup_logging(verbosity, redact)
    console = Console(json_mode=bool(getattr(args, "json", False)), verbose=verbose,
                      redactor=redact)
    try:
        return _dispatch(args, console)
    except BrokenPipeError:
        # `voicebot ask ... | head -1`: the reader has all it wanted. Later writes (and
        # the interpreter's flush at exit) would fail again: point stdout at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except Interrupted as exc:
        console.notice("interrupted" if exc.signum == signal.SIGINT else "terminated")
        return 128 + exc.signum
    except VoicebotError as exc:
        # Expected failures: the one line says it all, no traceback even with -v.
        logging.getLogger(__name__).debug("%s, exit code %d", type(exc).__name__,
                                          exc.exit_code)
        console.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        console.notice("interrupted")
        return 130
    except Exception as exc:  # a bug: still one line, with the detail behind -v
        if verbose:  # a bug report needs the traceback
            logging.getLogger(__name__).exception("internal error")
        console.error(f"internal error: {repr(exc)} (run with -v for details)")
        return 70


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that comes while modules load until they have loaded.

    A KeyboardInterrupt inside an import can surface as whatever a half-run import
    raises next (webrtcvad's import turns it into a NameError), so the signal is
    noted and raised as KeyboardInterrupt once the imports are done. Main thread.
    """
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    with interrupts_deferred():
        from . import pipeline  # imported late: `voicebot --help` stays fast

    if args.command == "devices":
        return pipeline.devices(console, check=args.check)
    if args.command == "selftest":
        from .selftest.run import command

        return command(console, args.input, args.output)
    if args.command == "voices":
        return pipeline.list_voices(console)
    if args.command == "serve":
        from .server.serve import run_server

        run_server(args.host, args.port, args.api_key)
        return 0
    flags: dict[str, Any] = {k: getattr(args, k, None) for k in _SETTING_FLAGS}
    settings = resolve(flags, config_path=args.config)
    console.redact.add(settings.api_key)  # from the environment or the config file
    if args.command == "bridge":
        from .bridge.serve import run_bridge  # drains on SIGTERM itself

        return run_bridge(settings, console, args)
    if args.command == "kiosk":
        return _kiosk(args, settings, console)
    if args.command == "ask":
        return run_until_signal(pipeline.ask(
            settings, console, text=args.text, audio=args.audio, image=args.image,
            output=args.output, play=not args.no_play))
    return run_until_signal(pipeline.chat(
        settings, console, input_file=args.input, fast=args.fast, max_turns=args.max_turns,
        output_dir=args.output_dir, play=not args.no_play))


def _kiosk(args: argparse.Namespace, settings: Any, console: Console) -> int:
    if args.install_service:
        from .kiosk.service import install

        path = install(user=args.service_user, config_path=args.config)
        console.notice(f"wrote {path}; now: sudo systemctl daemon-reload && "
                       "sudo systemctl enable --now voicebot-kiosk")
        return 0
    if args.enroll is not None or args.enroll_from or args.enroll_reset:
        from .kiosk.enroll_cli import command

        return command(settings, console, takes=args.enroll or 6, files=args.enroll_from,
                       readings=args.enroll_reading, reset=args.enroll_reset,
                       reading_pairs=args.enroll_lines)
    from .kiosk.run import kiosk

    return run_until_signal(kiosk(settings, console, screen=args.screen, port=args.port))


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the command (after it shut down cleanly)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_until_signal(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on a new event loop; Ctrl-C and SIGTERM take the same clean path.

    Either signal cancels ``main``: the speaker fades out, streams close, files are
    completed, and :class:`Interrupted` is raised with the signal (exit 130 or 143).
    A systemd service is stopped with SIGTERM. Main thread.
    """
    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        received: list[int] = []

        def on_signal(signum: int) -> None:
            if not received:
                received.append(signum)
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await main
        except asyncio.CancelledError:
            if received:
                raise Interrupted(received[0]) from None
            raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    return asyncio.run(guarded())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
