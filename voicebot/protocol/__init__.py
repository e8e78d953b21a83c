"""Sans-I/O cores of the chat-completions wire format.

Nothing here opens a socket or reads a clock: bytes go in, events come out.

* :mod:`.sse` — ``SSEDecoder``: event-stream bytes → ``SSEEvent``.
* :mod:`.stream` — ``ChunkDecoder``: streamed body bytes → :mod:`.events`;
  ``decode_response`` for a non-streamed body.
* :mod:`.toolcalls` — ``ToolCallAccumulator``: ``ToolCallDelta`` pieces → ``ToolCall``.
* :mod:`.request` — request bodies and message/content-part helpers.
* :mod:`.ssml` — SSML validation, escaping, and incremental stripping for transcripts.
"""

from __future__ import annotations

from .request import (
    assistant_message,
    build_request,
    encode_request,
    image_data_url,
    image_part,
    input_audio_part,
    system_message,
    text_part,
    tool_message,
    user_message,
)
from .sse import SSEDecoder, SSEEvent
from .ssml import SSMLStripper, escape_text, strip_ssml, validate_ssml, wrap_speak
from .stream import ChunkDecoder, decode_response
from .toolcalls import ToolCall, ToolCallAccumulator

__all__ = [
    "SSEDecoder",
    "SSEEvent",
    "ChunkDecoder",
    "decode_response",
    "ToolCall",
    "ToolCallAccumulator",
    "assistant_message",
    "build_request",
    "encode_request",
    "image_data_url",
    "image_part",
    "input_audio_part",
    "system_message",
    "text_part",
    "tool_message",
    "user_message",
    "SSMLStripper",
    "escape_text",
    "strip_ssml",
    "validate_ssml",
    "wrap_speak",
]
