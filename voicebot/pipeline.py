"""The commands' wiring: each builds one conversation driver and runs it.

::

    mic/file ──capture task──▶ CaptureReport ──▶ Driver ──▶ TurnTaking core (decides)
                                                   │  ▲ stream events, playback progress
                                 Session.run_turn ◀┘  └──▶ speaker / WAV sinks, console

Everything runs on one event loop; the only other threads are PortAudio's callbacks
(inside ``capture.mic`` and ``playback.speaker``) and the embedded server's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .audio.convert import float_to_pcm16
from .audio.files import decode_audio_file, read_input_file
from .audio.wav import encode_wav
from .capture.mic import FileSource, MicrophoneSource
from .capture.vad import UtteranceDetector
from .capture.vadmodels import make_classifier
from .config import Settings
from .console import Console
from .devices import can_open, diagnose, list_devices
from .driver import Driver
from .errors import ConfigError, InputFileError
from .localaudio import (audio_devices, capture_buffer_ms, capture_reports, echo_stage,
                         mute_switch, open_microphone, open_output, open_speaker)
from .playback.sinks import Sink, WavSink
from .recovery.mic import ResilientMicrophone
from .protocol.request import image_data_url, image_part, input_audio_part, text_part
from .protocol.ssml import validate_ssml
from .session.builtin_tools import Timer, Timers, register_builtins
from .session.client import ChatClient
from .session.tools import ToolRegistry
from .session.turn import RequestOptions, Session
from .turntaking import TurnTaking
from .turntaking.events import Backend, Event, Listening, UserSaid
from .turntaking.inputs import InputEnded, TimerDue, UserParts

if TYPE_CHECKING:
    import httpx

# ---------------------------------------------------------------------- building blocks

@contextlib.asynccontextmanager
async def backend(settings: Settings, console: Console) -> AsyncIterator[str]:
    """The API base URL: the configured server, or the embedded local one started here.

    Human mode says which in one line on stderr when someone watches (a terminal, or
    ``-v``): a key alone now means OpenAI, and nobody should be surprised by that.
    """
    url = settings.backend_url()
    watched = console.verbose or _is_terminal(sys.stderr)
    if url:
        console.publish(Backend(kind="remote", base_url=_display_url(url)))
        if watched and not console.json_mode:
            how = "" if settings.base_url else " (an API key is set; --local for the offline server)"
            console.notice(f"using {_display_url(url)}{how}")
        yield url
        return
    if watched and not console.json_mode:
        console.notice("using the embedded local server (offline)")
    from .server.completion import Engines, ServerState
    from .server.serve import start_embedded

    # A failure inside the embedded server reaches the user as the HTTP error's one
    # line; the server's own log on the same terminal would only bury it (-v shows it).
    quiet = () if console.verbose else ("voicebot.server", "uvicorn", "uvicorn.error")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    started = time.monotonic()
    state = ServerState(engines=Engines(recognizer_workers=settings.speech_workers))
    server = await asyncio.to_thread(start_embedded, state=state)
    for name in quiet:  # again: creating the uvicorn server reconfigured its loggers
        logging.getLogger(name).setLevel(logging.CRITICAL)
    console.publish(Backend(kind="embedded", base_url=server.base_url,
                            startup_ms=round((time.monotonic() - started) * 1000)))
    try:
        yield server.base_url
    finally:
        await asyncio.to_thread(server.stop)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _display_url(url: str) -> str:
    """The URL without credentials or query (keys hide there: Azure's api-key=)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def make_session(settings: Settings, base_url: str, on_timer: Callable[[Timer], None], *,
                 http: httpx.AsyncClient | None = None,
                 on_timer_change: Callable[[Event], None] | None = None
                 ) -> tuple[Session, Timers]:
    """A session with the built-in tools; ``on_timer`` runs (loop thread) when one of
    its timers fires: make it an input of the conversation (:func:`timer_input`).
    ``http``: a connection pool shared with other conversations (the bridge's).
    ``on_timer_change``: receives ``timer.set`` / ``timer.cancelled`` records (publish
    them with the conversation's events, e.g. ``Driver.publish``)."""
    timers = Timers(on_fire=on_timer, on_change=on_timer_change)
    registry = ToolRegistry()
    register_builtins(registry, timers=timers)
    hint = ("set VOICEBOT_BASE_URL to your server, or use --local for the offline one"
            if not settings.base_url and not settings.local else None)
    client = ChatClient(base_url, settings.api_key, connect_timeout_s=settings.connect_timeout_s,
                        stall_timeout_s=settings.stall_timeout_s,
                        max_retries=settings.max_retries, connect_hint=hint, http=http)
    options = RequestOptions(model=settings.model, voice=settings.voice,
                             ssml_enabled=True if settings.ssml else None,
                             system_prompt=settings.system)
    return Session(client, options, tools=registry), timers


def timer_input(timer: Timer) -> TimerDue:
    """A fired timer as an input of the conversation that set it."""
    return TimerDue(id=str(timer.id), label=timer.label or None, text=timer.announcement)


# ---------------------------------------------------------------------- commands

async def ask(settings: Settings, console: Console, *, text: str | None, audio: str | None,
              image: str | None, output: str | None, play: bool) -> int:
    """``voicebot ask``: one turn from text, an audio file and/or an image."""
    parts: list[dict[str, Any]] = []
    if text and settings.ssml and text.lstrip().startswith("<"):
        validate_ssml(text)  # malformed SSML is the user's error: say so before sending
    if text:
        parts.append(text_part(text))
    audio_s: float | None = None
    if audio:
        wav, audio_s = audio_file_as_wav(audio)
        parts.append(input_audio_part(wav))
    if image:
        parts.append(image_part(image_url(image)))
    if not parts:
        raise ConfigError("nothing to ask: give --text, --audio and/or --image")
    sinks: list[Sink] = []
    reply_wav = _ReplyWav(output, per_turn=False) if output else None
    speaker = open_speaker(settings) if play else None
    try:
        if speaker is not None:
            sinks.append(speaker)
        if reply_wav is not None:
            sinks.append(reply_wav)
        async with backend(settings, console) as base_url:
            session, timers = make_session(
                settings, base_url, lambda timer: driver.feed(timer_input(timer)))
            async with session.client:
                policy = settings.turn_policy(barge_in=False, pace_transcript=speaker is not None,
                                              max_turns=1)
                driver = Driver(TurnTaking(policy), session, sinks=sinks,
                                subscribers=[console.publish], fatal=())
                await driver.run(inputs=[UserParts(tuple(parts), text,
                                                   None if text else audio_s), InputEnded()])
            timers.cancel_all()
    finally:
        for sink in sinks:
            sink.close()
    if reply_wav is not None and not reply_wav.opened and driver.exit_code == 0:
        console.notice(f"no audio arrived (a text-only reply): {output} was not written")
    return driver.exit_code


async def chat(settings: Settings, console: Console, *, input_file: str | None, fast: bool,
               max_turns: int | None, output_dir: str | None, play: bool) -> int:
    """``voicebot chat``: listen, answer, repeat — on the microphone or a file."""
    if max_turns is not None and max_turns < 1:
        raise ConfigError("--max-turns must be at least 1")
    if output_dir:
        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as exc:
            raise InputFileError(output_dir, f"cannot create directory ({exc.strerror})") from None
    # Device statuses come before the driver exists (a device lost while the backend
    # starts): the console hears them until the driver takes over.
    publish: Callable[[Event], None] = console.publish
    devices = (audio_devices(settings, on_status=lambda event: publish(event))
               if settings.reconnect and (play or not input_file) else None)
    async with contextlib.AsyncExitStack() as stack:
        speaker = await open_output(settings, stack, devices) if play else None
        echo = (echo_stage(settings, speaker, stack)  # before the microphone opens
                if speaker is not None and input_file is None else None)
        config = settings.segmenter_config(echo_cancelled=echo is not None)
        detector = UtteranceDetector(
            config, classify=make_classifier(settings.vad, config.aggressiveness))
        source: FileSource | MicrophoneSource | ResilientMicrophone = (
            FileSource(input_file, realtime=not fast) if input_file else
            await open_microphone(settings, stack, devices, echo=echo,
                                  input_buffer_ms=capture_buffer_ms(settings)))
        base_url = await stack.enter_async_context(backend(settings, console))
        session, timers = make_session(  # `driver` is bound below, before any timer fires
            settings, base_url, lambda timer: driver.feed(timer_input(timer)))
        stack.callback(timers.cancel_all)
        await stack.enter_async_context(session.client)

        sinks: list[Sink] = [speaker] if speaker is not None else []
        replies = (_ReplyWav(os.path.join(output_dir.replace("{", "{{").replace("}", "}}"),
                                          "reply-{turn:03d}.wav"), per_turn=True)
                   if output_dir else None)
        if replies is not None:
            sinks.append(replies)
            stack.callback(replies.close)
        # A real microphone hears the speaker. Echo cancellation (above) removes the
        # reply from what it hears; without it, stop listening while the reply plays (unless
        # barge-in: headphones keep the reply out).
        barge_in = settings.barge_in_for(echo_cancelled=echo is not None)
        half_duplex = speaker is not None and not input_file and not barge_in and echo is None
        policy = settings.turn_policy(barge_in=barge_in, echo_cancelled=echo is not None,
                                      mute_while_replying=half_duplex,
                                      pace_transcript=speaker is not None, max_turns=max_turns)

        subscribers = [console.publish] + ([replies.on_event] if replies is not None else [])
        driver = Driver(TurnTaking(policy), session, sinks=sinks, subscribers=subscribers,
                        mute=mute_switch(source, detector))
        publish = driver.publish
        where = f"file {input_file}" if input_file else getattr(source, "device_name", "microphone")
        console.publish(Listening(source=where))
        # The microphone needs the cue (speak now); a file does not, and stderr stays
        # free for the one line a failure prints.
        if not console.json_mode and (input_file is None or console.verbose):
            console.notice(f"listening on {where}" + ("" if input_file else " — Ctrl-C to stop"))
        await driver.run(capture_reports(source, detector, echo=echo))
    return driver.exit_code


class _ReplyWav(WavSink):
    """Reply audio to WAV, the file created with the first audio: a turn without audio
    leaves no empty file behind. ``per_turn``: turn N's reply in its own file
    (``path`` holds ``{turn:03d}``), closed when the reply ends. Subscribe
    :meth:`on_event` to the conversation: it learns the turn numbers there."""

    def __init__(self, path: str, *, per_turn: bool) -> None:
        super().__init__(None)
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.access(directory, os.W_OK):
            raise InputFileError(path, "cannot write (not a writable file path)")
        self._template = path
        self._per_turn = per_turn
        self._turn = 0
        self.opened = False

    def on_event(self, event: Event) -> None:
        if isinstance(event, UserSaid):
            self._turn = event.turn

    def push_pcm16(self, pcm: bytes) -> None:
        if self._wav is None:
            self._open(self._template.format(turn=self._turn) if self._per_turn
                       else self._template)
            self.opened = True
        super().push_pcm16(pcm)

    def end_of_stream(self) -> None:
        super().end_of_stream()
        if self._per_turn:
            self.close()


def devices(console: Console, *, check: str | None) -> int:
    """``voicebot devices``: list devices, or (``--check``) test that defaults open."""
    if check:
        kinds = ["input", "output"] if check == "both" else [check]
        return 0 if all(can_open(k) for k in kinds) else 1
    rows = list_devices()
    if console.json_mode:
        for row in rows:
            console.event("device", **row)
        if console.verbose:
            console.event("diagnosis", findings=diagnose())
        return 0
    if not rows or console.verbose:
        if not rows:
            console.notice("no audio devices found" + ("" if console.verbose else
                                                       " (`voicebot devices -v` says why)"))
        for line in diagnose():
            console.notice(line)
        if not rows:
            return 1
    for r in rows:
        mark = ("<" if r["default_input"] else " ") + (">" if r["default_output"] else " ")
        print(f"{mark} {r['index']:3d} {r['name']} ({r['hostapi']}, {r['inputs']} in, "
              f"{r['outputs']} out, {r['sample_rate']:.0f} Hz)")
    print("< default input, > default output")
    return 0


def list_voices(console: Console) -> int:
    """``voicebot voices``: the embedded server's voices, and OpenAI's names."""
    from .speech.voices import OPENAI_VOICES, VOICES, voice_table

    if console.json_mode:
        for name, spec in sorted(VOICES.items()):
            console.event("voice", name=name, server="embedded", espeak_voice=spec.espeak_voice)
        for name in OPENAI_VOICES:
            console.event("voice", name=name, server="openai")
        return 0
    print("The embedded server's voices (--voice NAME):")
    for line in voice_table():
        print(line if line.startswith("OpenAI") else "  " + line)
    return 0


# ---------------------------------------------------------------------- inputs

def audio_file_as_wav(path: str) -> tuple[bytes, float]:
    """(WAV bytes, duration in seconds) of an audio file, for an ``input_audio`` part.

    A WAV goes byte for byte as it is; other formats are decoded (pydub/ffmpeg) and
    wrapped as 16-bit WAV. Decoding a WAV too checks it is one the server can read.
    Raises :class:`InputFileError` naming the file.
    """
    data = read_input_file(path)
    samples, rate = decode_audio_file(path, data)  # names the file on any failure
    duration_s = len(samples) / rate
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return data, duration_s
    return encode_wav(float_to_pcm16(samples), rate), duration_s


def image_url(value: str) -> str:
    """A URL as given, or a local image file as a data: URL."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    data = read_input_file(value)
    mime = mimetypes.guess_type(value)[0] or "application/octet-stream"
    if not mime.startswith("image/"):
        raise InputFileError(value, "not an image file (give a .png, .jpg, .gif or .webp)")
    return image_data_url(data, mime)

