"""Build ``POST /chat/completions`` request bodies. Pure: dicts and bytes, no I/O.

Every field of the spec's ``ChatCompletionRequest`` can be set, and the practical
shapes are what goes on the wire (see the spec's ``note:`` comments): assistant
messages have role ``assistant`` and an array of ``tool_calls``, images go as
``{"image_url": {"url": ...}}``, ``audio.format`` is sent next to ``audio.voice``.
A field left as ``None`` is omitted, never sent as ``null``.

Speed matters: this runs between the end of an utterance and the request leaving,
so the audio is base64-encoded once, with ``binascii`` and no intermediate copies,
and the JSON is compact. ``scripts/bench_request.py`` measures the whole path.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConfigError
from .toolcalls import ToolCall

__all__ = [
    "input_audio_part",
    "text_part",
    "image_part",
    "image_data_url",
    "system_message",
    "user_message",
    "assistant_message",
    "tool_message",
    "build_request",
    "encode_request",
]

_MODALITIES = frozenset({"text", "audio"})
_TOOL_CHOICES = frozenset({"auto", "none", "required"})


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def input_audio_part(wav: bytes, format: str = "wav") -> dict[str, Any]:
    """A user content part carrying a whole audio file (``wav`` or ``mp3``) as base64.

    Raw PCM must be wrapped first (``voicebot.audio.encode_wav``): servers decode a file.
    """
    return {"type": "input_audio", "input_audio": {"data": _b64(wav), "format": format}}


def text_part(text: str) -> dict[str, Any]:
    """A user content part with plain text."""
    return {"type": "text", "text": text}


def image_part(url: str, detail: str | None = None) -> dict[str, Any]:
    """A user content part with an image URL (``https:`` or a ``data:`` URL).

    ``detail`` is ``low``, ``high`` or ``auto``; ``None`` leaves it to the server.
    """
    image_url: dict[str, Any] = {"url": url}
    if detail is not None:
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def image_data_url(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for an image file's bytes (``mime`` like ``image/png``)."""
    return f"data:{mime};base64,{_b64(data)}"


def system_message(content: str | list[str], *, name: str | None = None) -> dict[str, Any]:
    """A ``system`` message."""
    return _omit_none({"role": "system", "content": content, "name": name})


def user_message(content: str | list[dict[str, Any]], *,
                 name: str | None = None) -> dict[str, Any]:
    """A ``user`` message: a string, or a list of ``*_part()`` dicts."""
    return _omit_none({"role": "user", "content": content, "name": name})


def assistant_message(text: str | None = None, audio_id: str | None = None,
                      tool_calls: Sequence[ToolCall | dict[str, Any]] | None = None, *,
                      name: str | None = None) -> dict[str, Any]:
    """An earlier assistant turn for the history.

    Reference a spoken reply by ``audio_id`` while it is valid (see
    ``AudioInfo.expires_at``); after that pass its transcript as ``text``. Role is
    ``assistant`` (the seed's ``system`` is a mistake) and ``tool_calls`` is an array.
    """
    msg: dict[str, Any] = {"role": "assistant"}
    if text is not None:
        msg["content"] = text
    if audio_id is not None:
        msg["audio"] = {"id": audio_id}
    if tool_calls:
        msg["tool_calls"] = [c.to_dict() if isinstance(c, ToolCall) else c for c in tool_calls]
    if name is not None:
        msg["name"] = name
    return msg


def tool_message(call_id: str, content: str | list[str]) -> dict[str, Any]:
    """The result of the tool call ``call_id``, for the next request."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def build_request(
    messages: list[dict[str, Any]],
    *,
    model: str,
    modalities: Iterable[str] = ("text", "audio"),
    voice: str | None = None,
    audio_format: str = "pcm16",
    stream: bool = True,
    include_usage: bool = True,
    ssml_enabled: bool | None = None,
    context: dict[str, Any] | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    parallel_tool_calls: bool | None = None,
    response_format: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of one chat-completions request; pass it to :func:`encode_request`.

    ``audio: {voice, format}`` is sent when ``"audio"`` is among ``modalities``
    (``voice=None`` leaves the voice to the server). Streaming audio must be
    ``pcm16`` (24 kHz mono), so another ``audio_format`` with ``stream=True`` is a
    :class:`~voicebot.errors.ConfigError`. ``stream_options.include_usage`` is sent
    only when streaming. ``ssml_enabled`` and ``context`` are top-level fields, as
    the seed has them. ``extra`` adds or overrides top-level fields (for server
    extensions such as ``temperature``); its ``None`` values are dropped too.
    ``messages`` are used as given (not copied). Pure; any thread.
    """
    mods = list(modalities)
    unknown = [m for m in mods if m not in _MODALITIES]
    if unknown or not mods:
        raise ConfigError(f"modalities must be text and/or audio, got {mods!r}")
    if isinstance(tool_choice, str) and tool_choice not in _TOOL_CHOICES:
        raise ConfigError(f"tool_choice must be auto, none, required or an object, "
                          f"got {tool_choice!r}")
    body: dict[str, Any] = {"model": model, "messages": messages, "modalities": mods}
    if "audio" in mods:
        if stream and audio_format != "pcm16":
            raise ConfigError(f"audio format {audio_format!r} cannot be streamed; "
                              f"streamed audio is pcm16")
        audio: dict[str, Any] = {"format": audio_format}
        if voice is not None:
            audio["voice"] = voice
        body["audio"] = audio
    body["stream"] = stream
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    optional = {
        "ssml_enabled": ssml_enabled,
        "context": context,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "response_format": response_format,
    }
    body.update(_omit_none(optional))
    if extra:
        body.update(extra)
        body = _omit_none(body)
    return body


# One encoder, built once: compact separators and raw UTF-8 (no \\uXXXX escapes,
# which would make non-ASCII text up to 6x larger).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_request(body: dict[str, Any]) -> bytes:
    """The request body as compact UTF-8 JSON bytes, ready for ``httpx`` ``content=``.

    Raises :class:`~voicebot.errors.ConfigError` if ``body`` holds something JSON
    cannot carry (NaN, bytes, an object) — a programming or configuration mistake.
    """
    try:
        return _ENCODER.encode(body).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"request body cannot be encoded as JSON: {exc}") from None


def _omit_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
