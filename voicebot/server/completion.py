"""Serve one chat completion: the async edge around the pure planning steps.

Runs on the server's event loop. Everything slow — decoding input audio, speech
recognition, speech synthesis — runs in worker threads (``anyio.to_thread``), so
concurrent requests stream concurrently. All 4xx problems are found before the first
byte of a stream is sent; a client that disconnects cancels its synthesis.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from ..audio.files import decode_audio_bytes
from ..errors import RequestError, VoicebotError
from ..speech.engines import Recognizer, SpeechSynthesizer
from .access import RequestTiming
from .assistant import SKILL_PHRASES
from .chunks import (
    DONE,
    ChunkWriter,
    Usage,
    audio_tokens_out,
    completion_response,
    estimate_text_tokens,
)
from .encode import encode_reply_audio
from .heard import HeardCache
from .conversations import Conversations, conversation_key
from .model import Reply
from .plan import Heard, Spoken, build_turns, plan_speech, structured_content
from .store import AudioStore
from .validate import ChatRequest

if TYPE_CHECKING:
    from ..speech.worker import ProcessRecognizer

__all__ = ["Engines", "ServerState", "complete", "AUDIO_DELTA_MS", "MAX_INPUT_AUDIO_S"]

#: Audio is sent in deltas of at most this much sound (base64 lines stay ~30 KB).
AUDIO_DELTA_MS = 500
#: Longer input audio is refused: recognising it would hold a worker for minutes.
MAX_INPUT_AUDIO_S = 600
_SAMPLE_RATE = 24_000
_DELTA_BYTES = _SAMPLE_RATE * 2 * AUDIO_DELTA_MS // 1000


class Engines:
    """The speech engines, created on first use (they take a moment to load).

    Pass your own ``recognizer`` (anything with ``transcribe(samples, sample_rate)``) or
    ``synthesizer`` to replace the defaults (pocketsphinx biased to the assistant's
    phrases; eSpeak NG); their owner closes them. Getters block while loading: call them
    from worker threads.

    The default recogniser decodes in up to ``recognizer_workers`` worker processes
    (:class:`~voicebot.speech.worker.ProcessRecognizer`): pocketsphinx holds the GIL for
    a whole decode, and the server often shares its process with ``voicebot chat``'s
    event loop and capture thread. ``recognizer_workers=0`` decodes in this process
    instead (:class:`~voicebot.speech.recognize.PocketsphinxRecognizer`, two decoders).
    :meth:`close` stops the workers (the server does at shutdown).

    Engines are thread-safe (see :mod:`voicebot.speech.engines`) and called without a
    lock here. eSpeak NG, whose state is process-global, serialises itself per sentence
    — at 350-1000× real time on one core it is not what limits many conversations
    (``scripts/bench_server.py``), and it releases the GIL while it runs.
    """

    def __init__(self, recognizer: Recognizer | None = None,
                 synthesizer: SpeechSynthesizer | None = None, *,
                 recognizer_workers: int = 2) -> None:
        self._recognizer = recognizer
        self._synthesizer = synthesizer
        self._recognizer_workers = recognizer_workers
        self._owned: ProcessRecognizer | None = None
        self._closed = False
        self._load_lock = threading.Lock()

    def recognizer(self) -> Recognizer:
        with self._load_lock:
            if self._recognizer is not None:
                return self._recognizer
            if self._owned is None and self._recognizer_workers > 0:
                from ..speech.worker import ProcessRecognizer
                self._owned = ProcessRecognizer(SKILL_PHRASES,
                                                max_workers=self._recognizer_workers)
            if self._owned is not None:
                return self._owned
            try:
                from ..speech.recognize import PocketsphinxRecognizer
            except ImportError as exc:
                raise VoicebotError(f"speech recognition is not available: {exc}") from None
            self._recognizer = PocketsphinxRecognizer(phrases=SKILL_PHRASES)
            return self._recognizer

    def synthesizer(self) -> SpeechSynthesizer:
        with self._load_lock:
            if self._synthesizer is None:
                from ..speech.synth import Synthesizer
                self._synthesizer = Synthesizer()
            return self._synthesizer

    def warm_up(self) -> None:
        """Load both engines now (worker thread), so the first request is fast."""
        with self._load_lock:
            if self._closed:  # the server stopped before its warm-up thread ran
                return
        self.synthesizer()
        self.recognizer()
        with self._load_lock:
            owned = self._owned
        if owned is not None:
            owned.warm_up()  # a no-op if close() came meanwhile

    def close(self) -> None:
        """Stop the recogniser's worker processes (any thread; blocks up to ~2 s). A later
        request starts new ones; a later :meth:`warm_up` does nothing."""
        with self._load_lock:
            self._closed = True
            owned, self._owned = self._owned, None
        if owned is not None:
            owned.close()


@dataclass
class ServerState:
    """Per-server state, owned by the event-loop thread (the store, the conversations)."""
    engines: Engines = field(default_factory=Engines)
    store: AudioStore = field(default_factory=AudioStore)
    #: What earlier requests' input audio said (requests repeat the last turns' audio).
    heard: HeardCache = field(default_factory=HeardCache)
    #: The assistant's state (timers) per conversation; see :mod:`.conversations`.
    conversations: Conversations = field(default_factory=Conversations)
    #: Wall-clock time in epoch seconds; replaced in tests.
    clock: Callable[[], float] = time.time
    #: Time zone the assistant tells the time in; None means the machine's local zone.
    tz: dt.tzinfo | None = None


def _decode_and_recognise(engines: Engines, data: bytes, fmt: str, param: str) -> Heard:
    """Worker thread: input audio file bytes → transcript. Foreign decoder errors of any
    kind mean the bytes are not usable audio, so they become a 400 here."""
    try:
        samples, rate = decode_audio_bytes(data, fmt)
    except Exception:  # noqa: BLE001 - pydub/ffmpeg/wave raise many types for junk
        raise RequestError(f"{param}: the audio file could not be decoded or its format is "
                           "not supported", param=param, code="invalid_audio") from None
    duration_s = len(samples) / rate if rate else 0.0
    if duration_s > MAX_INPUT_AUDIO_S:
        raise RequestError(f"{param}: the audio is {duration_s:.0f} s long; the limit is "
                           f"{MAX_INPUT_AUDIO_S} s", param=param, code="audio_too_long")
    if len(samples) == 0:
        return Heard("", 0.0)
    text = engines.recognizer().transcribe(np.asarray(samples, dtype=np.float32), rate)
    return Heard(text.strip(), duration_s)


def input_transcript(req: ChatRequest, heard: dict[tuple[int, int], Heard]) -> str | None:
    """What was recognised in the last user message's audio parts, or None if it has none.

    Sent as voicebot's own extension ``voicebot.input_transcript`` (see openapi.yaml)."""
    last = next((mi for mi in range(len(req.messages) - 1, -1, -1)
                 if req.messages[mi].role == "user"), None)
    if last is None:
        return None
    texts = [h.text for (mi, _), h in sorted(heard.items()) if mi == last]
    return " ".join(t for t in texts if t) if texts else None


async def complete(req: ChatRequest, state: ServerState, *,
                   timing: RequestTiming | None = None) -> dict[str, Any] | AsyncIterator[bytes]:
    """Answer ``req``: a whole response dict (``stream: false``) or the SSE byte stream.

    Raises ``RequestError`` before anything is sent when the request cannot be served.
    ``timing`` (from the access log) is told when the first audio goes out.
    """
    now_s = state.clock()
    now = dt.datetime.fromtimestamp(now_s, state.tz).astimezone(state.tz)
    heard: dict[tuple[int, int], Heard] = {}
    remembered: dict[int, str] = {}
    for mi, msg in enumerate(req.messages):
        if msg.audio_id is not None:
            entry = state.store.get(msg.audio_id, now_s)
            if entry is None:
                param = f"messages[{mi}].audio.id"
                raise RequestError(f"{param}: audio {msg.audio_id!r} was not found or has "
                                   "expired; send its transcript as text instead",
                                   param=param, code="audio_not_found")
            remembered[mi] = entry.transcript
        for pi, part in enumerate(msg.parts):
            if part.kind == "audio":
                param = f"{part.param}.input_audio.data"
                key = state.heard.key(part.audio_data, part.audio_format)
                known = state.heard.get(key)
                if known is None:
                    known = await anyio.to_thread.run_sync(
                        _decode_and_recognise, state.engines, part.audio_data,
                        part.audio_format, param)
                    state.heard.put(key, known)
                heard[(mi, pi)] = known
    usage = Usage()
    turns = build_turns(req, heard, remembered, usage)
    assistant = state.conversations.assistant(conversation_key(req), now_s)
    reply = assistant.respond(turns, now=now, tools=req.tools,
                              tool_choice=req.tool_choice, forced_tool=req.forced_tool)
    content: str | None = None
    if req.response_schema is not None and not reply.tool_calls:
        user = next((t.text for t in reversed(turns) if t.role == "user"), "")
        content = structured_content(req.response_schema, reply, user, now)
    spoken = plan_speech(reply, ssml_enabled=req.ssml_enabled)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    heard_text = input_transcript(req, heard)
    extension = {"input_transcript": heard_text} if heard_text is not None else None
    timing = timing if timing is not None else RequestTiming()
    if req.stream:
        writer = ChunkWriter(completion_id, int(now_s), req.model)
        return _stream(req, state, writer, reply, spoken, content, usage, now_s, extension,
                       timing)
    return await _whole(req, state, completion_id, reply, spoken, content, usage, now_s,
                        extension, timing)


def _synthesize(engines: Engines, s: Spoken, voice: str, cancel: threading.Event) -> bytes:
    """Worker thread: one sentence → PCM16 24 kHz."""
    return b"".join(engines.synthesizer().synthesize(s.speak, voice=voice, ssml=s.ssml,
                                                     cancel=cancel))


async def _stream(req: ChatRequest, state: ServerState, writer: ChunkWriter, reply: Reply,
                  spoken: list[Spoken], content: str | None, usage: Usage,
                  now_s: float, extension: dict[str, Any] | None,
                  timing: RequestTiming) -> AsyncIterator[bytes]:
    yield writer.role(extension)
    if reply.tool_calls:
        usage.completion_text_tokens += sum(estimate_text_tokens(c.arguments) + 3
                                            for c in reply.tool_calls)
        yield writer.tool_calls(reply.tool_calls)
        yield writer.finish("tool_calls")
        if req.include_usage:
            yield writer.usage(usage)
        yield DONE
        return
    if content is not None:
        usage.completion_text_tokens += estimate_text_tokens(content)
        yield writer.content(content)
    transcript = " ".join(s.transcript for s in spoken if s.transcript)
    if not req.want_audio:
        if content is None:
            usage.completion_text_tokens += estimate_text_tokens(transcript)
            sep = ""
            for s in spoken:
                if s.transcript:
                    yield writer.content(sep + s.transcript)
                    sep = " "
        yield writer.finish("stop")
        if req.include_usage:
            yield writer.usage(usage)
        yield DONE
        return
    usage.completion_text_tokens += estimate_text_tokens(transcript)
    entry = state.store.put(transcript, now_s)
    audio_id: str | None = entry.audio_id
    cancel = threading.Event()
    n_bytes = 0
    sep = ""
    try:
        for s in spoken:
            if s.transcript:
                yield writer.transcript(sep + s.transcript)
                sep = " "
            # abandon_on_cancel: a disconnect cancels this await at once; the finally
            # below then sets ``cancel`` so espeak stops mid-sentence.
            pcm = await anyio.to_thread.run_sync(_synthesize, state.engines, s, req.voice,
                                                 cancel, abandon_on_cancel=True)
            for at in range(0, len(pcm), _DELTA_BYTES):
                timing.audio_sent()
                yield writer.audio(pcm[at:at + _DELTA_BYTES], audio_id)
                audio_id = None
            n_bytes += len(pcm)
    except VoicebotError as exc:
        yield writer.error(f"speech synthesis failed: {exc}")
        return
    finally:
        cancel.set()
    if audio_id is not None:  # nothing was spoken: the id still has to reach the client
        yield writer.audio(b"", audio_id)
    usage.completion_audio_tokens += audio_tokens_out(n_bytes / 2 / _SAMPLE_RATE)
    yield writer.finish("stop")
    yield writer.expires(entry.expires_at)
    if req.include_usage:
        yield writer.usage(usage)
    yield DONE


async def _whole(req: ChatRequest, state: ServerState, completion_id: str, reply: Reply,
                 spoken: list[Spoken], content: str | None, usage: Usage,
                 now_s: float, extension: dict[str, Any] | None,
                 timing: RequestTiming) -> dict[str, Any]:
    transcript = " ".join(s.transcript for s in spoken if s.transcript)
    audio: dict[str, Any] | None = None
    if reply.tool_calls:
        usage.completion_text_tokens += sum(estimate_text_tokens(c.arguments) + 3
                                            for c in reply.tool_calls)
        finish = "tool_calls"
    else:
        finish = "stop"
        if content is None and not req.want_audio:
            content = transcript
        if content is not None:
            usage.completion_text_tokens += estimate_text_tokens(content)
    if req.want_audio and not reply.tool_calls:
        cancel = threading.Event()
        pcm = bytearray()
        try:
            for s in spoken:
                pcm += await anyio.to_thread.run_sync(_synthesize, state.engines, s, req.voice,
                                                      cancel, abandon_on_cancel=True)
        finally:
            cancel.set()
        data = await anyio.to_thread.run_sync(_encode, bytes(pcm), req.audio_format)
        timing.audio_sent()
        entry = state.store.put(transcript, now_s)
        audio = {"id": entry.audio_id, "expires_at": entry.expires_at,
                 "data": base64.b64encode(data).decode("ascii"), "transcript": transcript}
        usage.completion_text_tokens += estimate_text_tokens(transcript)
        usage.completion_audio_tokens += audio_tokens_out(len(pcm) / 2 / _SAMPLE_RATE)
    return completion_response(completion_id=completion_id, created_s=int(now_s),
                               model=req.model, content=content, audio=audio,
                               tool_calls=reply.tool_calls, finish_reason=finish, usage=usage,
                               extension=extension)


def _encode(pcm: bytes, fmt: str) -> bytes:
    """Worker thread: the whole reply in the requested file format."""
    return encode_reply_audio(pcm, _SAMPLE_RATE, fmt)
