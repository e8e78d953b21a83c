"""Parse and check a ``POST /chat/completions`` body into a :class:`ChatRequest`.

Pure: bytes in, a frozen request out, or :class:`~voicebot.errors.RequestError` with one
line that names the field (``messages[1].content[0].type``) and says what is wrong.
Written by hand rather than with ``jsonschema`` because the spec's ``oneOf`` over
message roles makes a schema validator's errors unreadable ("is not valid under any of
the given schemas"); dispatching on ``role``/``type`` first gives precise messages.
Both the spec's shapes and the practical ones are accepted (see the spec's notes).
The request's fields are checked here, its messages in :mod:`.messages`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import RequestError
from ..protocol.values import json_type
from ..speech.voices import DEFAULT_VOICE, find_voice, voices
from .fields import expect, fail, need, opt, show
from .messages import INPUT_AUDIO_FORMATS, Message, Part, check_tool_ids, parse_message
from .model import ToolSpec

__all__ = ["ChatRequest", "Message", "Part", "parse_request", "MAX_BODY_BYTES",
           "STREAM_AUDIO_FORMATS", "FILE_AUDIO_FORMATS", "INPUT_AUDIO_FORMATS"]


#: Request bodies larger than this get a 413 (Azure documents 20 MB of audio; base64
#: adds a third, so 25 MiB fits that with room for the rest of the request).
MAX_BODY_BYTES = 25 * 1024 * 1024
STREAM_AUDIO_FORMATS = ("pcm16",)
#: Formats of a whole reply (``stream: false``); all but wav and pcm16 go through ffmpeg.
FILE_AUDIO_FORMATS = ("wav", "pcm16", "mp3", "flac", "opus", "aac")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    model: str = "voicebot-local"
    stream: bool = True
    want_audio: bool = False
    voice: str = "alloy"
    audio_format: str = "pcm16"
    tools: tuple[ToolSpec, ...] = ()
    #: "auto", "none", "required", or the name of the one function the client forces.
    tool_choice: str = "auto"
    forced_tool: str | None = None
    parallel_tool_calls: bool = True
    ssml_enabled: bool = False
    response_schema: dict[str, Any] | None = None
    #: ``stream_options.include_usage``: send the usage chunk (``choices: []``) at the end.
    include_usage: bool = False
    #: OpenAI's end-user id (``user``); the local assistant keeps its state per user.
    user: str | None = None


def parse_request(body: bytes, *, stream_default: bool = True) -> ChatRequest:
    """Parse ``body`` (the raw request bytes) or raise ``RequestError`` (a 400).

    ``stream_default`` is what a body without ``stream`` means: the spec says true; the
    HTTP layer passes false when the client's ``Accept`` excludes ``text/event-stream``.
    """
    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("request body is not UTF-8 text", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}", code="invalid_json") from None
    except (ValueError, RecursionError) as exc:  # huge integers, absurd nesting
        raise RequestError(f"request body is not usable JSON: {type(exc).__name__}",
                           code="invalid_json") from None
    if not isinstance(doc, dict):
        raise RequestError(f"request body must be a JSON object, got {json_type(doc)}",
                           code="invalid_type")
    return _parse_doc(doc, stream_default)


def _parse_doc(doc: dict[str, Any], stream_default: bool = True) -> ChatRequest:
    if "messages" not in doc:
        raise fail("messages", "is required", "missing_required_parameter")
    raw_messages = expect(doc["messages"], (list,), "messages", "an array of messages")
    model = opt(doc, "model", (str,), "model", "a string", "voicebot-local") or "voicebot-local"
    stream = opt(doc, "stream", (bool,), "stream", "a boolean", stream_default)
    options = opt(doc, "stream_options", (dict,), "stream_options", "an object", {})
    include_usage = opt(options, "include_usage", (bool,), "stream_options.include_usage",
                         "a boolean", False)
    n = opt(doc, "n", (int,), "n", "an integer", 1)
    if n != 1:
        raise fail("n", f"this server returns one choice; n must be 1, not {n}",
                    "unsupported_value")
    user = opt(doc, "user", (str,), "user", "a string", None)
    ssml = opt(doc, "ssml_enabled", (bool,), "ssml_enabled", "a boolean", False)
    parallel = opt(doc, "parallel_tool_calls", (bool,), "parallel_tool_calls", "a boolean", True)
    opt(doc, "context", (dict,), "context", "an object", None)

    modalities = opt(doc, "modalities", (list,), "modalities", "an array of strings", ["text"])
    for i, m in enumerate(modalities):
        if m not in ("text", "audio"):
            raise fail(f"modalities[{i}]", f"unsupported modality {show(m)}; "
                        "this server supports 'text' and 'audio'", "unsupported_modality")
    want_audio = "audio" in modalities

    audio = opt(doc, "audio", (dict,), "audio", "an object", {})
    voice = _parse_voice(audio.get("voice"))
    allowed = STREAM_AUDIO_FORMATS if stream else FILE_AUDIO_FORMATS
    fmt = opt(audio, "format", (str,), "audio.format", "a string", allowed[0])
    if want_audio and fmt not in allowed:
        how = "with stream=true" if stream else "with stream=false"
        raise fail("audio.format", f"{show(fmt)} is not supported {how}; use "
                    + " or ".join(allowed), "unsupported_audio_format")

    tools = _parse_tools(opt(doc, "tools", (list,), "tools", "an array of tools", []))
    choice, forced = _parse_tool_choice(doc.get("tool_choice"), tools)
    schema = _parse_response_format(doc.get("response_format"))

    messages = tuple(parse_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages))
    check_tool_ids(messages)
    return ChatRequest(messages=messages, model=model, stream=stream, want_audio=want_audio,
                       voice=voice, audio_format=fmt, tools=tools, tool_choice=choice,
                       forced_tool=forced, parallel_tool_calls=parallel, ssml_enabled=ssml,
                       response_schema=schema, include_usage=include_usage, user=user)


def _parse_voice(raw: Any) -> str:
    """A voice name, or a custom voice ``{"id": ...}`` naming one of ours."""
    param = "audio.voice"
    if raw is None:
        return DEFAULT_VOICE
    if isinstance(raw, dict):
        param = "audio.voice.id"
        raw = need(raw, "id", (str,), param, "a string")
    expect(raw, (str,), param, "a voice name or {\"id\": ...}")
    name = find_voice(raw)
    if name is None:
        raise fail(param, f"unknown voice {show(raw)}; this server has "
                    + ", ".join(voices()), "invalid_value")
    return name


def _parse_tools(raw: list[Any]) -> tuple[ToolSpec, ...]:
    out: list[ToolSpec] = []
    for i, t in enumerate(raw):
        p = f"tools[{i}]"
        expect(t, (dict,), p, "an object")
        kind = t.get("type", "function")
        if kind != "function":
            raise fail(f"{p}.type", f"unsupported tool type {show(kind)}; expected 'function'")
        fn = need(t, "function", (dict,), f"{p}.function", "an object")
        name = need(fn, "name", (str,), f"{p}.function.name", "a string")
        if not _TOOL_NAME.match(name):
            raise fail(f"{p}.function.name", "must be 1-64 letters, digits, '_' or '-'")
        desc = opt(fn, "description", (str,), f"{p}.function.description", "a string", "")
        params = opt(fn, "parameters", (dict,), f"{p}.function.parameters", "an object", {})
        opt(fn, "strict", (bool,), f"{p}.function.strict", "a boolean", False)
        if any(s.name == name for s in out):
            raise fail(f"{p}.function.name", f"duplicate tool name {show(name)}")
        out.append(ToolSpec(name, desc, params))
    return tuple(out)


def _parse_tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> tuple[str, str | None]:
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise fail("tool_choice", f"{show(raw)} is not one of 'auto', 'none', 'required'")
        if raw == "required" and not tools:
            raise fail("tool_choice", "'required' needs at least one tool in 'tools'")
        return raw, None
    expect(raw, (dict,), "tool_choice", "a string or an object")
    if raw.get("type", "function") != "function":
        raise fail("tool_choice.type", "must be 'function'")
    fn = need(raw, "function", (dict,), "tool_choice.function", "an object")
    name = need(fn, "name", (str,), "tool_choice.function.name", "a string")
    if not any(t.name == name for t in tools):
        raise fail("tool_choice.function.name", f"no tool named {show(name)} in 'tools'")
    return "required", name


def _parse_response_format(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    expect(raw, (dict,), "response_format", "an object")
    kind = raw.get("type", "json_schema")
    if kind == "text":
        return None
    if kind == "json_object":  # any JSON object: the answer as {"answer": "..."}
        return _answer_schema()
    if kind != "json_schema":
        raise fail("response_format.type", f"unsupported type {show(kind)}; "
                    "this server supports 'json_schema', 'json_object' and 'text'")
    js = need(raw, "json_schema", (dict,), "response_format.json_schema", "an object")
    opt(js, "name", (str,), "response_format.json_schema.name", "a string", "")
    # Without a schema the reply still comes as JSON: {"answer": "..."}.
    schema: dict[str, Any] = opt(
        js, "schema", (dict,), "response_format.json_schema.schema", "an object",
        _answer_schema())
    return schema


def _answer_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {"answer": {"type": "string"}},
            "required": ["answer"]}
