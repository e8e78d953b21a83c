"""Build the server's output: stream chunks as SSE bytes, whole responses, usage. Pure.

Every object built here validates against the spec's ``ChatCompletionChunk`` /
``ChatCompletionResponse`` in their practical shape (see :mod:`.spec`): fields whose
value is unknown are omitted, never sent as null; tool calls are an array.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

from .model import ToolCall

__all__ = ["ChunkWriter", "Usage", "EXTENSION_KEY", "estimate_text_tokens", "audio_tokens_in",
           "audio_tokens_out", "error_body", "DONE", "sse"]

DONE = b"data: [DONE]\n\n"
#: The top-level field of voicebot's own extensions in chunks and responses; a name
#: OpenAI's API does not use, so it cannot clash with the API's fields.
EXTENSION_KEY = "voicebot"

#: Token estimates, documented because real servers' tokenizers are not available:
#: English text runs about 3/4 of a word per token, so tokens ≈ words × 4/3; audio
#: is counted from its duration as OpenAI documents for its audio models — one token
#: per 100 ms of user audio and per 50 ms of assistant audio.
INPUT_AUDIO_TOKENS_PER_S = 10
OUTPUT_AUDIO_TOKENS_PER_S = 20


def estimate_text_tokens(text: str) -> int:
    words = len(text.split())
    return math.ceil(words * 4 / 3)


def audio_tokens_in(duration_s: float) -> int:
    return math.ceil(duration_s * INPUT_AUDIO_TOKENS_PER_S)


def audio_tokens_out(duration_s: float) -> int:
    return math.ceil(duration_s * OUTPUT_AUDIO_TOKENS_PER_S)


@dataclass
class Usage:
    """Token counts of one completion; fill in as the reply is produced."""
    prompt_text_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_text_tokens: int = 0
    completion_audio_tokens: int = 0

    def as_json(self) -> dict[str, Any]:
        prompt = self.prompt_text_tokens + self.prompt_audio_tokens
        completion = self.completion_text_tokens + self.completion_audio_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"audio_tokens": self.prompt_audio_tokens,
                                      "cached_tokens": 0},
            "completion_tokens_details": {"audio_tokens": self.completion_audio_tokens,
                                          "reasoning_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }


def sse(obj: dict[str, Any]) -> bytes:
    """One data-only SSE event carrying ``obj`` as compact JSON."""
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() \
        + b"\n\n"


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The API's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def tool_calls_json(calls: tuple[ToolCall, ...], *, indexed: bool) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        item = c.to_dict()
        if indexed:
            item = {"index": i, **item}
        out.append(item)
    return out


class ChunkWriter:
    """Makes the SSE events of one streamed completion, in the order the caller asks.

    Typical order: :meth:`role`, per sentence :meth:`transcript` then :meth:`audio`
    (or :meth:`content`), :meth:`finish`, :meth:`expires`, :meth:`usage`, :data:`DONE`.
    """

    def __init__(self, completion_id: str, created_s: int, model: str) -> None:
        self._head = {"id": completion_id, "object": "chat.completion.chunk",
                      "created": created_s, "model": model}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta}
        if finish_reason is not None:
            choice["finish_reason"] = finish_reason
        return sse({**self._head, "choices": [choice]})

    def role(self, extension: dict[str, Any] | None = None) -> bytes:
        """The first chunk. ``extension`` is voicebot's own data for its clients, sent at
        the chunk's top level as ``"voicebot"`` (other clients ignore unknown fields)."""
        if extension is None:
            return self.chunk({"role": "assistant"})
        return sse({**self._head, "choices": [{"index": 0, "delta": {"role": "assistant"}}],
                    EXTENSION_KEY: extension})

    def content(self, text: str) -> bytes:
        return self.chunk({"content": text})

    def transcript(self, text: str) -> bytes:
        return self.chunk({"audio": {"transcript": text}})

    def audio(self, pcm: bytes, audio_id: str | None = None) -> bytes:
        """``pcm`` (PCM16 LE mono 24 kHz) as one ``audio.data`` delta; the first carries
        ``audio_id``."""
        audio: dict[str, Any] = {"data": base64.b64encode(pcm).decode("ascii")}
        if audio_id is not None:
            audio = {"id": audio_id, **audio}
        return self.chunk({"audio": audio})

    def tool_calls(self, calls: tuple[ToolCall, ...]) -> bytes:
        """The calls whole, in one delta (a streamed call may also come in pieces)."""
        return self.chunk({"tool_calls": tool_calls_json(calls, indexed=True)})

    def finish(self, reason: str) -> bytes:
        return self.chunk({}, reason)

    def expires(self, expires_at_s: int) -> bytes:
        return self.chunk({"audio": {"expires_at": expires_at_s}})

    def usage(self, usage: Usage) -> bytes:
        return sse({**self._head, "choices": [], "usage": usage.as_json()})

    def error(self, message: str, *, type: str = "server_error", code: str | None = None) -> bytes:
        return sse(error_body(message, type=type, code=code))


def completion_response(*, completion_id: str, created_s: int, model: str,
                        content: str | None, audio: dict[str, Any] | None,
                        tool_calls: tuple[ToolCall, ...], finish_reason: str,
                        usage: Usage, extension: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
    """A whole ``ChatCompletionResponse`` (``stream: false``); ``extension`` as in
    :meth:`ChunkWriter.role`."""
    message: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        message["content"] = content
    if audio is not None:
        message["audio"] = audio
    if tool_calls:
        message["tool_calls"] = tool_calls_json(tool_calls, indexed=False)
    doc: dict[str, Any] = {
        "id": completion_id, "object": "chat.completion", "created": created_s,
        "model": model, "choices": [{"index": 0, "message": message,
                                     "finish_reason": finish_reason}],
        "usage": usage.as_json()}
    if extension is not None:
        doc[EXTENSION_KEY] = extension
    return doc
