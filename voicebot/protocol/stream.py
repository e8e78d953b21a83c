"""Streamed chat-completion body → :mod:`voicebot.protocol.events`.

Sans-I/O: :class:`ChunkDecoder` takes the body's bytes (``text/event-stream``, one
``data: {ChatCompletionChunk}`` per event, then ``data: [DONE]``) and returns events;
:func:`decode_response` does the same for a non-streamed ``ChatCompletionResponse``.
Both accept the seed's shapes and the ones servers send in practice (see the spec's
``note:`` comments): ``null`` for unknown values, ``choices: []`` chunks, audio in any
choice, ``tool_calls`` as one object or as an array of indexed partial calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import ProtocolError
from .events import (
    AudioDelta,
    AudioFile,
    AudioInfo,
    Done,
    Finished,
    InputTranscript,
    RefusalDelta,
    RoleDelta,
    ServerError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TranscriptDelta,
    UsageReport,
)
from .sse import SSEDecoder, SSEEvent
from .values import decode_base64, json_type

__all__ = ["ChunkDecoder", "decode_response"]


class ChunkDecoder:
    """Decodes one streamed response body into :data:`StreamEvent` s.

    Use one decoder per response. Call :meth:`feed` with each piece of the body as it
    arrives (any split), then :meth:`end` when the body is over; afterwards check :attr:`complete`: if it is
    False the stream was cut (the caller raises ``StreamCut``). Not thread-safe; runs
    on the caller's thread (the asyncio loop).

    Errors: bytes that break the wire format (a ``data:`` that is not JSON, a chunk of
    the wrong shape, ``audio.data`` that is not base64) raise
    :class:`~voicebot.errors.ProtocolError`. No decoded event is lost to it: a bad
    chunk contributes no events, and when the same feed decoded good chunks before it,
    :meth:`feed` returns those and the error is raised by the next :meth:`feed` or
    :meth:`end` call. From then on every call raises that error again, so a plain
    ``for piece in body: handle(dec.feed(piece))`` loop followed by ``dec.end()``
    sees every good event and then the error.

    ``{"error": {...}}`` chunks are not a protocol error: they decode to
    :class:`ServerError` and decoding goes on.
    """

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._odd_byte = b""            # last byte of an odd-length audio piece
        self._complete = False
        self._saw_done = False
        self._error: ProtocolError | None = None
        self._ended = False

    @property
    def complete(self) -> bool:
        """True once ``[DONE]`` or any ``finish_reason`` was seen (some servers omit ``[DONE]``)."""
        return self._complete

    @property
    def saw_done(self) -> bool:
        """True once ``data: [DONE]`` was seen."""
        return self._saw_done

    def feed(self, data: bytes) -> list[StreamEvent]:
        """Decode the next piece of the body; return the events it completed, in order."""
        if self._error is not None:
            raise self._error
        return self._interpret(self._sse.feed(data))

    def end(self) -> list[StreamEvent]:
        """The body is over: return the last events.

        If :attr:`complete` but ``[DONE]`` never came, the list ends with :class:`Done`
        (the body ended cleanly without it). If the audio ended on half a sample,
        that dangling byte is dropped: a sample needs two. A body that stopped
        before completing yields no ``Done``; check :attr:`complete`.
        """
        if self._error is not None:
            raise self._error
        if self._ended:
            return []
        self._ended = True
        events = self._interpret(self._sse.end())
        self._odd_byte = b""
        if self._complete and not self._saw_done:
            events.append(Done())
        return events

    def _interpret(self, sse_events: list[SSEEvent]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for sse in sse_events:
            try:
                events.extend(self._chunk(sse.data, sse.event))
            except ProtocolError as err:
                self._error = err
                if not events:
                    raise
                break                   # hand back what came before; raise next call
        return events

    def _chunk(self, data: str, event_type: str) -> list[StreamEvent]:
        text = data.strip()
        if text == "[DONE]":
            self._saw_done = self._complete = True
            return [Done()]
        if not text:                    # an empty data: line is a keep-alive
            return []
        try:
            chunk = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(
                f"stream chunk is not JSON ({_json_reason(exc)}): {_preview(text)}") from None
        if not isinstance(chunk, dict):
            raise ProtocolError(f"stream chunk is a JSON {json_type(chunk)}, "
                                f"expected an object: {_preview(text)}")
        error = chunk.get("error")
        if error is None and event_type == "error":
            error = chunk                # `event: error` with the error object as data
        if error is not None:
            return [_server_error(error)]

        # The carry is committed only if the whole chunk decodes, so a bad chunk
        # leaves the decoder as it was.
        carry = self._odd_byte

        def audio(pcm: bytes) -> AudioDelta | None:
            nonlocal carry
            if carry:
                pcm = carry + pcm
            if len(pcm) % 2:
                carry, pcm = pcm[-1:], pcm[:-1]
            else:
                carry = b""
            return AudioDelta(pcm) if pcm else None

        events: list[StreamEvent] = _extension_events(chunk)
        finished = False
        for i, choice in enumerate(_list(chunk.get("choices"), "choices")):
            where = f"choices[{i}]"
            if not isinstance(choice, dict):
                raise ProtocolError(f"stream chunk {where} is not an object")
            delta = choice.get("delta")
            if delta is None:           # some servers put the delta under "message"
                delta = choice.get("message")
            if delta is not None:
                _message_events(_dict(delta, f"{where}.delta"), f"{where}.delta", audio, events)
            reason = choice.get("finish_reason")
            if reason is not None:
                events.append(Finished(_str(reason, f"{where}.finish_reason")))
                finished = True
        usage = chunk.get("usage")
        if usage is not None:
            events.append(UsageReport(_dict(usage, "usage")))
        self._odd_byte = carry
        self._complete = self._complete or finished
        return events


def decode_response(body: dict[str, Any], *, audio_format: str = "pcm16") -> list[StreamEvent]:
    """Events for a non-streamed ``ChatCompletionResponse`` (``stream: false``), ending in ``Done``.

    ``audio_format`` is the ``audio.format`` that was requested: ``message.audio.data``
    is then a whole file in that format. For ``pcm16`` it becomes one
    :class:`AudioDelta` (an odd trailing byte is dropped); any other format becomes
    :class:`AudioFile` for the caller to decode. ``{"error": ...}`` bodies give
    ``[ServerError]``. Raises :class:`~voicebot.errors.ProtocolError` for a body of the
    wrong shape. Pure; any thread.
    """
    if not isinstance(body, dict):
        raise ProtocolError(f"response body is a JSON {json_type(body)}, expected an object")
    error = body.get("error")
    if error is not None:
        return [_server_error(error)]

    def audio(data: bytes) -> AudioDelta | AudioFile | None:
        if audio_format != "pcm16":
            return AudioFile(data, audio_format)
        data = data[: len(data) - len(data) % 2]
        return AudioDelta(data) if data else None

    events: list[StreamEvent] = _extension_events(body)
    for i, choice in enumerate(_list(body.get("choices"), "choices")):
        where = f"choices[{i}]"
        if not isinstance(choice, dict):
            raise ProtocolError(f"response {where} is not an object")
        message = choice.get("message")
        if message is not None:
            _message_events(_dict(message, f"{where}.message"), f"{where}.message", audio,
                            events)
        reason = choice.get("finish_reason")
        if reason is not None:
            events.append(Finished(_str(reason, f"{where}.finish_reason")))
    usage = body.get("usage")
    if usage is not None:
        events.append(UsageReport(_dict(usage, "usage")))
    events.append(Done())
    return events


def _extension_events(obj: dict[str, Any]) -> list[StreamEvent]:
    """voicebot's own top-level ``"voicebot"`` object (the embedded server's): what it
    recognised in the user's audio. Anything else there, or of another shape, is
    ignored as a client must ignore fields it does not know."""
    ext = obj.get("voicebot")
    if isinstance(ext, dict):
        heard = ext.get("input_transcript")
        if isinstance(heard, str):
            return [InputTranscript(heard)]
    return []


def _message_events(msg: dict[str, Any], where: str,
                    audio: Callable[[bytes], StreamEvent | None],
                    out: list[StreamEvent]) -> None:
    """Append the events of one delta (streamed) or message (whole) to ``out``."""
    role = msg.get("role")
    if role is not None:
        out.append(RoleDelta(_str(role, f"{where}.role")))
    content = _content_text(msg.get("content"), f"{where}.content")
    if content:
        out.append(TextDelta(content))
    refusal = msg.get("refusal")
    if refusal:
        out.append(RefusalDelta(_str(refusal, f"{where}.refusal")))
    audio_obj = msg.get("audio")
    if audio_obj is not None:
        a = _dict(audio_obj, f"{where}.audio")
        audio_id, expires_at = a.get("id"), a.get("expires_at")
        if audio_id is not None or expires_at is not None:
            if expires_at is not None and (not isinstance(expires_at, int)
                                           or isinstance(expires_at, bool)):
                raise ProtocolError(f"{where}.audio.expires_at is not an integer")
            out.append(AudioInfo(None if audio_id is None else _str(audio_id, f"{where}.audio.id"),
                                 expires_at))
        transcript = a.get("transcript")
        if transcript:
            out.append(TranscriptDelta(_str(transcript, f"{where}.audio.transcript")))
        data = a.get("data")
        if data:
            event = audio(_b64decode(_str(data, f"{where}.audio.data"), f"{where}.audio.data"))
            if event is not None:
                out.append(event)
    calls = msg.get("tool_calls")
    if calls is not None:
        # The seed declares one object; servers send an array of indexed partial calls.
        items = [calls] if isinstance(calls, dict) else _list(calls, f"{where}.tool_calls")
        for pos, call in enumerate(items):
            out.append(_tool_call_delta(call, pos, f"{where}.tool_calls[{pos}]"))


def _tool_call_delta(call: Any, pos: int, where: str) -> ToolCallDelta:
    call = _dict(call, where)
    index = call.get("index", pos)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ProtocolError(f"{where}.index is not a non-negative integer")
    func = call.get("function")
    func = {} if func is None else _dict(func, f"{where}.function")
    arguments = func.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        # A few servers send the arguments as a JSON object; keep the wire type (str).
        arguments = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    call_id, name = call.get("id"), func.get("name")
    return ToolCallDelta(index=index,
                         id=None if call_id is None else _str(call_id, f"{where}.id"),
                         name=None if name is None else _str(name, f"{where}.function.name"),
                         arguments=arguments)


def _server_error(error: Any) -> ServerError:
    """``{"error": ...}`` → ServerError; the message is made one line for the user."""
    if not isinstance(error, dict):
        return ServerError(_one_line(error))

    def opt(key: str) -> str | None:
        value = error.get(key)
        return None if value is None else str(value)

    return ServerError(_one_line(error.get("message")), type=opt("type"),
                       code=opt("code"), param=opt("param"))


def _one_line(message: Any) -> str:
    return " ".join(str(message).split()) if message else "unknown error"


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):       # content parts: keep the text ones
        return "".join(p["text"] for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    raise ProtocolError(f"{where} is a JSON {json_type(content)}, expected a string")


def _b64decode(text: str, where: str) -> bytes:
    try:
        return decode_base64(text)
    except ValueError as exc:   # binascii.Error, or non-ASCII text
        raise ProtocolError(f"{where} is not valid base64 ({exc})") from None


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} is a JSON {json_type(value)}, expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"{where} is a JSON {json_type(value)}, expected an array")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{where} is a JSON {json_type(value)}, expected a string")
    return value


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at char {exc.pos}"
    return str(exc)


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
