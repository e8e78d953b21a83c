"""The pipeline: a few asyncio tasks and queues, wired in this one place.

::

    mic/file ──capture task──▶ utterance queue ──turn loop──▶ Session.run_turn
                                                                  │ stream events
                                          console ◀── ReplyOutput ┴──▶ speaker / WAV sinks

Everything runs on one event loop; the only other threads are PortAudio's callbacks
(inside ``capture.mic`` and ``playback.speaker``) and the embedded server's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .aio import cancel_and_wait
from .audio import VAD_SAMPLE_RATE
from .audio.convert import float_to_pcm16
from .audio.files import decode_audio_file, read_input_file
from .audio.wav import encode_wav
from .bargein import BargeIn, BargeInConfig
from .bargein_edge import TickingSource, TurnInProgress, await_turn
from .capture.mic import (
    FileSource,
    MicrophoneSource,
    Utterance,
    capture_events,
    utterance_wav,
)
from .capture.segmenter import Event, SegmenterConfig, UtteranceEnded
from .capture.vad import UtteranceDetector
from .config import Settings
from .console import Console
from .devices import can_open, list_devices
from .errors import (
    AudioDeviceError,
    ConfigError,
    ConnectError,
    InputFileError,
    VoicebotError,
)
from .playback.sinks import Sink, WavSink
from .playback.speaker import Speaker
from .protocol.request import image_data_url, image_part, input_audio_part, text_part
from .protocol.ssml import validate_ssml
from .reply import ReplyOutput
from .session.builtin_tools import Timer, Timers, register_builtins
from .session.client import ChatClient
from .session.tools import ToolRegistry
from .session.turn import RequestOptions, Session, TurnResult

# ---------------------------------------------------------------------- building blocks

@contextlib.asynccontextmanager
async def backend(settings: Settings, console: Console) -> AsyncIterator[str]:
    """The API base URL: the configured server, or the embedded local one started here."""
    if settings.base_url:
        yield settings.base_url
        return
    from .server.serve import start_embedded

    # A failure inside the embedded server reaches the user as the HTTP error's one
    # line; the server's own log on the same terminal would only bury it (-v shows it).
    quiet = () if console.verbose else ("voicebot.server", "uvicorn", "uvicorn.error")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    started = time.monotonic()
    server = await asyncio.to_thread(start_embedded)
    for name in quiet:  # again: creating the uvicorn server reconfigured its loggers
        logging.getLogger(name).setLevel(logging.CRITICAL)
    console.event("backend", kind="embedded", base_url=server.base_url,
                  startup_ms=round((time.monotonic() - started) * 1000))
    if console.verbose:
        console.notice(f"using the embedded local server at {server.base_url}")
    try:
        yield server.base_url
    finally:
        await asyncio.to_thread(server.stop)


def open_speaker(settings: Settings) -> Speaker:
    device = _device(settings.output_device)
    try:
        return Speaker(device, prebuffer_ms=settings.prebuffer_ms)
    except AudioDeviceError as exc:
        raise AudioDeviceError(f"{exc} — list devices with `voicebot devices`, "
                               "or use --no-play") from None


def make_session(settings: Settings, base_url: str, console: Console) -> tuple[Session, Timers]:
    """A session with the built-in tools; timers announce themselves on the console."""
    def announce(timer: Timer) -> None:
        console.event("timer.fired", id=timer.id, label=timer.label)
        console.notice(timer.announcement)

    timers = Timers(on_fire=announce)
    registry = ToolRegistry()
    register_builtins(registry, timers=timers)
    client = ChatClient(base_url, settings.api_key, connect_timeout_s=settings.connect_timeout_s,
                        stall_timeout_s=settings.stall_timeout_s,
                        max_retries=settings.max_retries)
    options = RequestOptions(model=settings.model, voice=settings.voice,
                             ssml_enabled=True if settings.ssml else None,
                             system_prompt=settings.system)
    return Session(client, options, tools=registry), timers


async def run_turn(session: Session, parts: Sequence[dict[str, Any]], sinks: list[Sink],
                   console: Console, *, pace_with: Sink | None, ssml: bool,
                   user_transcript: str | None = None,
                   output: ReplyOutput | None = None) -> TurnResult:
    """One turn, start to finish: returns once the reply was played/written in full.

    On failure the audio and text that arrived are still played, written and printed
    before the error propagates. Cancelling the task (Ctrl-C, barge-in) stops playback
    at once with a short fade; what was written to files stays. Pass ``output`` to
    keep a handle on the turn's :class:`ReplyOutput` (e.g. to ask what was heard).
    """
    if output is None:
        output = ReplyOutput(sinks, console, pace_with=pace_with, strip_ssml=ssml)
    try:
        result = await session.run_turn(list(parts), output, user_transcript=user_transcript)
        await output.finish()
    except asyncio.CancelledError:
        output.cancel()  # interrupted (Ctrl-C, barge-in): fade out now, drop the rest
        raise
    except BaseException:
        await asyncio.shield(output.finish())
        raise
    for call in result.tool_calls:
        console.tool_call(call.name, call.arguments, call.result)
    t = result.timings

    def ms(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round((b - a) * 1000, 1)

    console.event("turn.done", audio_bytes=result.audio_bytes, audio_id=result.audio_id,
                  finish_reason=result.finish_reason, usage=result.usage,
                  text=result.transcript or result.text, requests=result.requests,
                  timings_ms={"first_byte": ms(t.request_sent, t.first_byte),
                              "first_audio": ms(t.request_sent, t.first_audio),
                              "done": ms(t.request_sent, t.done)},
                  underruns=getattr(pace_with, "underruns", None))
    return result


def _device(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


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
    speaker = open_speaker(settings) if play else None
    try:
        if speaker is not None:
            sinks.append(speaker)
        if output:
            sinks.append(WavSink(output))
        async with backend(settings, console) as base_url:
            session, timers = make_session(settings, base_url, console)
            async with session.client:
                console.user(text, audio_s=None if text else audio_s)
                await run_turn(session, parts, sinks, console, pace_with=speaker,
                               ssml=settings.ssml, user_transcript=text)
            timers.cancel_all()
    finally:
        for sink in sinks:
            sink.close()
    return 0


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
    config = SegmenterConfig(aggressiveness=settings.vad_aggressiveness,
                             hangover_ms=settings.hangover_ms, preroll_ms=settings.preroll_ms,
                             min_utterance_ms=settings.min_utterance_ms,
                             max_utterance_ms=settings.max_utterance_ms)
    detector = UtteranceDetector(config)
    exit_code = 0
    async with contextlib.AsyncExitStack() as stack:
        speaker = open_speaker(settings) if play else None
        if speaker is not None:
            stack.callback(speaker.close)
        if input_file:
            source: FileSource | MicrophoneSource = FileSource(input_file, realtime=not fast)
        else:
            mic = MicrophoneSource(_device(settings.input_device))
            source = await stack.enter_async_context(mic)  # its errors name the device
        base_url = await stack.enter_async_context(backend(settings, console))
        session, timers = make_session(settings, base_url, console)
        stack.callback(timers.cancel_all)
        await stack.enter_async_context(session.client)

        queue: asyncio.Queue[Utterance | BaseException | None] = asyncio.Queue()
        barge = (BargeIn(BargeInConfig(settings.barge_in_ms, settings.barge_in_grace_ms))
                 if settings.barge_in else None)
        now = TurnInProgress()

        def watch(event: Event | None = None) -> None:
            # Loop thread, once per captured block and per detector event. Events are
            # fed between turns too: the decision tracks whether the user is speaking.
            if barge is None:
                return
            out = now.output
            playing = out is not None and (out.frames_played > 0 if out.pace_with is not None
                                           else out.audio_bytes > 0)
            if barge.feed(detector.position, playing=playing, event=event) and now.task:
                # Cancelling closes the HTTP stream and fades the speaker out; a turn
                # that has just finished is left alone.
                now.interrupted = now.task.cancel()

        async def capture() -> None:
            rate = VAD_SAMPLE_RATE
            try:
                async for report in capture_events(TickingSource(source, watch), detector):
                    ev = report.event
                    if ev is None:
                        continue
                    watch(ev)
                    if isinstance(ev, UtteranceEnded):
                        queue.put_nowait(Utterance(ev.pcm, ev.start_sample / rate,
                                                   ev.end_sample / rate, ev.reason))
            except BaseException as exc:  # noqa: BLE001 - handed to the turn loop
                queue.put_nowait(exc)
                return
            queue.put_nowait(None)

        capture_task = asyncio.create_task(capture())
        stack.push_async_callback(cancel_and_wait, capture_task)
        where = f"file {input_file}" if input_file else getattr(source, "device_name", "microphone")
        console.event("listening", source=where)
        # The microphone needs the cue (speak now); a file does not, and stderr stays
        # free for the one line a failure prints.
        if not console.json_mode and (input_file is None or console.verbose):
            console.notice(f"listening on {where}" + ("" if input_file else " — Ctrl-C to stop"))
        turn = 0
        while max_turns is None or turn < max_turns:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            turn += 1
            # Reported when answered (not when detected): with --fast the capture runs
            # ahead of the turns, and an utterance past --max-turns is never answered.
            console.event("utterance", start_s=round(item.start_s, 3),
                          end_s=round(item.end_s, 3), reason=item.reason)
            sinks: list[Sink] = [speaker] if speaker is not None else []
            if output_dir:
                sinks.append(WavSink(os.path.join(output_dir, f"reply-{turn:03d}.wav")))
            console.user(None, audio_s=item.duration_s, turn=turn)
            # A real microphone hears the speaker: stop listening while the reply plays
            # (unless --barge-in: headphones or echo cancellation keep it out).
            detector.muted = speaker is not None and not input_file and barge is None
            now.output = ReplyOutput(sinks, console, pace_with=speaker, strip_ssml=settings.ssml)
            now.interrupted = False
            now.task = asyncio.create_task(run_turn(
                session, [input_audio_part(utterance_wav(item))], sinks, console,
                pace_with=speaker, ssml=settings.ssml, output=now.output))
            if barge is not None:
                barge.arm()
            try:
                await await_turn(now, session, console, turn)
            except ConnectError:
                raise
            except VoicebotError as exc:
                # One failed turn does not end a conversation: say it, keep listening.
                console.error(str(exc))
                exit_code = exc.exit_code
            finally:
                detector.muted = False
                if barge is not None:
                    barge.disarm()
                now.task = now.output = None
                for sink in sinks[1 if speaker is not None else 0:]:
                    sink.close()
    return exit_code


def devices(console: Console, *, check: str | None) -> int:
    """``voicebot devices``: list devices, or (``--check``) test that defaults open."""
    if check:
        kinds = ["input", "output"] if check == "both" else [check]
        return 0 if all(can_open(k) for k in kinds) else 1
    rows = list_devices()
    if console.json_mode:
        for row in rows:
            console.event("device", **row)
        return 0
    if not rows:
        console.notice("no audio devices found")
        return 1
    for r in rows:
        mark = ("<" if r["default_input"] else " ") + (">" if r["default_output"] else " ")
        print(f"{mark} {r['index']:3d} {r['name']} ({r['hostapi']}, {r['inputs']} in, "
              f"{r['outputs']} out, {r['sample_rate']:.0f} Hz)")
    print("< default input, > default output")
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

