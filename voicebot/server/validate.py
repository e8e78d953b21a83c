"""Parse and check a ``POST /chat/completions`` body into a :class:`ChatRequest`.

Pure: bytes in, a frozen request out, or :class:`~voicebot.errors.RequestError` with one
line that names the field (``messages[1].content[0].type``) and says what is wrong.
Written by hand rather than with ``jsonschema`` because the spec's ``oneOf`` over
message roles makes a schema validator's errors unreadable ("is not valid under any of
the given schemas"); dispatching on ``role``/``type`` first gives precise messages.
Both the seed's shapes and the practical ones are accepted (see the spec's notes).
Decoding media (audio files, image headers) is left to the caller: it can be slow.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import RequestError
from ..protocol.values import decode_base64, json_type
from ..speech.voices import DEFAULT_VOICE, find_voice, voices
from .model import ToolCall, ToolSpec

__all__ = ["ChatRequest", "Message", "Part", "parse_request", "MAX_BODY_BYTES",
           "STREAM_AUDIO_FORMATS", "FILE_AUDIO_FORMATS", "INPUT_AUDIO_FORMATS"]

#: Request bodies larger than this get a 413 (Azure documents 20 MB of audio; base64
#: adds a third, so 25 MiB fits that with room for the rest of the request).
MAX_BODY_BYTES = 25 * 1024 * 1024
STREAM_AUDIO_FORMATS = ("pcm16",)
#: Formats of a whole reply (``stream: false``); all but wav and pcm16 go through ffmpeg.
FILE_AUDIO_FORMATS = ("wav", "pcm16", "mp3", "flac", "opus", "aac")
INPUT_AUDIO_FORMATS = ("wav", "mp3")
_ROLES = ("system", "developer", "user", "assistant", "tool")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Part:
    """One content part. ``kind`` says which of the other fields is set.

    ``image_data`` is the decoded ``data:`` URL payload; a remote image has only ``url``.
    """
    kind: Literal["text", "image", "audio", "file"]
    text: str = ""
    audio_data: bytes = b""
    audio_format: str = ""
    image_data: bytes | None = None
    url: str = ""
    #: A ``file`` part's name and decoded bytes.
    file_name: str = ""
    file_data: bytes = b""
    #: Where the part is in the request (``messages[0].content[1]``), for error messages.
    param: str = ""


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant", "tool"]
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    audio_id: str | None = None


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


def _fail(param: str, message: str, code: str = "invalid_value") -> RequestError:
    return RequestError(f"{param}: {message}", param=param, code=code)


def _expect(value: Any, types: tuple[type, ...], param: str, what: str) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise _fail(param, f"expected {what}, got {json_type(value)}", "invalid_type")
    return value


def _need(obj: dict[str, Any], key: str, types: tuple[type, ...], param: str, what: str) -> Any:
    if obj.get(key) is None:
        raise _fail(param, "is required", "missing_required_parameter")
    return _expect(obj[key], types, param, what)


def _opt(obj: dict[str, Any], key: str, types: tuple[type, ...], param: str, what: str,
         default: Any) -> Any:
    value = obj.get(key)
    return default if value is None else _expect(value, types, param, what)


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
        raise _fail("messages", "is required", "missing_required_parameter")
    raw_messages = _expect(doc["messages"], (list,), "messages", "an array of messages")
    model = _opt(doc, "model", (str,), "model", "a string", "voicebot-local") or "voicebot-local"
    stream = _opt(doc, "stream", (bool,), "stream", "a boolean", stream_default)
    options = _opt(doc, "stream_options", (dict,), "stream_options", "an object", {})
    include_usage = _opt(options, "include_usage", (bool,), "stream_options.include_usage",
                         "a boolean", False)
    n = _opt(doc, "n", (int,), "n", "an integer", 1)
    if n != 1:
        raise _fail("n", f"this server returns one choice; n must be 1, not {n}",
                    "unsupported_value")
    user = _opt(doc, "user", (str,), "user", "a string", None)
    ssml = _opt(doc, "ssml_enabled", (bool,), "ssml_enabled", "a boolean", False)
    parallel = _opt(doc, "parallel_tool_calls", (bool,), "parallel_tool_calls", "a boolean", True)
    _opt(doc, "context", (dict,), "context", "an object", None)

    modalities = _opt(doc, "modalities", (list,), "modalities", "an array of strings", ["text"])
    for i, m in enumerate(modalities):
        if m not in ("text", "audio"):
            raise _fail(f"modalities[{i}]", f"unsupported modality {_show(m)}; "
                        "this server supports 'text' and 'audio'", "unsupported_modality")
    want_audio = "audio" in modalities

    audio = _opt(doc, "audio", (dict,), "audio", "an object", {})
    voice = _parse_voice(audio.get("voice"))
    allowed = STREAM_AUDIO_FORMATS if stream else FILE_AUDIO_FORMATS
    fmt = _opt(audio, "format", (str,), "audio.format", "a string", allowed[0])
    if want_audio and fmt not in allowed:
        how = "with stream=true" if stream else "with stream=false"
        raise _fail("audio.format", f"{_show(fmt)} is not supported {how}; use "
                    + " or ".join(allowed), "unsupported_audio_format")

    tools = _parse_tools(_opt(doc, "tools", (list,), "tools", "an array of tools", []))
    choice, forced = _parse_tool_choice(doc.get("tool_choice"), tools)
    schema = _parse_response_format(doc.get("response_format"))

    messages = tuple(_parse_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages))
    _check_tool_ids(messages)
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
        raw = _need(raw, "id", (str,), param, "a string")
    _expect(raw, (str,), param, "a voice name or {\"id\": ...}")
    name = find_voice(raw)
    if name is None:
        raise _fail(param, f"unknown voice {_show(raw)}; this server has "
                    + ", ".join(voices()), "invalid_value")
    return name


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_tools(raw: list[Any]) -> tuple[ToolSpec, ...]:
    out: list[ToolSpec] = []
    for i, t in enumerate(raw):
        p = f"tools[{i}]"
        _expect(t, (dict,), p, "an object")
        kind = t.get("type", "function")
        if kind != "function":
            raise _fail(f"{p}.type", f"unsupported tool type {_show(kind)}; expected 'function'")
        fn = _need(t, "function", (dict,), f"{p}.function", "an object")
        name = _need(fn, "name", (str,), f"{p}.function.name", "a string")
        if not _TOOL_NAME.match(name):
            raise _fail(f"{p}.function.name", "must be 1-64 letters, digits, '_' or '-'")
        desc = _opt(fn, "description", (str,), f"{p}.function.description", "a string", "")
        params = _opt(fn, "parameters", (dict,), f"{p}.function.parameters", "an object", {})
        _opt(fn, "strict", (bool,), f"{p}.function.strict", "a boolean", False)
        if any(s.name == name for s in out):
            raise _fail(f"{p}.function.name", f"duplicate tool name {_show(name)}")
        out.append(ToolSpec(name, desc, params))
    return tuple(out)


def _parse_tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> tuple[str, str | None]:
    if raw is None:
        return "auto", None
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise _fail("tool_choice", f"{_show(raw)} is not one of 'auto', 'none', 'required'")
        if raw == "required" and not tools:
            raise _fail("tool_choice", "'required' needs at least one tool in 'tools'")
        return raw, None
    _expect(raw, (dict,), "tool_choice", "a string or an object")
    if raw.get("type", "function") != "function":
        raise _fail("tool_choice.type", "must be 'function'")
    fn = _need(raw, "function", (dict,), "tool_choice.function", "an object")
    name = _need(fn, "name", (str,), "tool_choice.function.name", "a string")
    if not any(t.name == name for t in tools):
        raise _fail("tool_choice.function.name", f"no tool named {_show(name)} in 'tools'")
    return "required", name


def _parse_response_format(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    _expect(raw, (dict,), "response_format", "an object")
    kind = raw.get("type", "json_schema")
    if kind == "text":
        return None
    if kind == "json_object":  # any JSON object: the answer as {"answer": "..."}
        return _answer_schema()
    if kind != "json_schema":
        raise _fail("response_format.type", f"unsupported type {_show(kind)}; "
                    "this server supports 'json_schema', 'json_object' and 'text'")
    js = _need(raw, "json_schema", (dict,), "response_format.json_schema", "an object")
    _opt(js, "name", (str,), "response_format.json_schema.name", "a string", "")
    # Without a schema the reply still comes as JSON: {"answer": "..."}.
    schema: dict[str, Any] = _opt(
        js, "schema", (dict,), "response_format.json_schema.schema", "an object",
        _answer_schema())
    return schema


def _answer_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {"answer": {"type": "string"}},
            "required": ["answer"]}


def _parse_message(raw: Any, p: str) -> Message:
    _expect(raw, (dict,), p, "a message object")
    role = raw.get("role")
    if role not in _ROLES:
        if role is None:
            raise _fail(f"{p}.role", "is required", "missing_required_parameter")
        raise _fail(f"{p}.role", f"unknown role {_show(role)}; expected system, user, "
                    "assistant or tool", "invalid_role")
    _opt(raw, "name", (str,), f"{p}.name", "a string", None)
    # The seed's AssistantMessage says role "system" (sic): a system message carrying
    # audio or tool calls can only be that shape, so read it as the assistant's turn.
    if role == "system" and (raw.get("audio") is not None or raw.get("tool_calls") is not None):
        role = "assistant"
    if role in ("system", "developer"):
        return Message("system", _string_parts(raw.get("content"), f"{p}.content", True))
    if role == "tool":
        call_id = _need(raw, "tool_call_id", (str,), f"{p}.tool_call_id", "a string")
        return Message("tool", _string_parts(raw.get("content"), f"{p}.content", True),
                       tool_call_id=call_id)
    if role == "user":
        return Message("user", _user_parts(raw.get("content"), f"{p}.content"))
    return _assistant(raw, p)


def _string_parts(content: Any, p: str, required: bool,
                  refusal: bool = False) -> tuple[Part, ...]:
    """``content`` as a string, an array of strings (seed) or of text parts (practice).

    With ``refusal`` (an assistant's content) a ``{"type": "refusal", "refusal": ...}``
    part counts as the text the assistant said."""
    if content is None:
        if required:
            raise _fail(p, "is required", "missing_required_parameter")
        return ()
    if isinstance(content, str):
        return (Part("text", text=content, param=p),)
    _expect(content, (list,), p, "a string or an array")
    out = []
    for i, item in enumerate(content):
        if isinstance(item, str):
            out.append(Part("text", text=item, param=f"{p}[{i}]"))
            continue
        _expect(item, (dict,), f"{p}[{i}]", "a string or a text part")
        if refusal and item.get("type") == "refusal":
            out.append(Part("text", text=_need(item, "refusal", (str,), f"{p}[{i}].refusal",
                                               "a string"), param=f"{p}[{i}]"))
            continue
        if item.get("type") != "text":
            allowed = "'text' and 'refusal' parts" if refusal else "'text' parts"
            raise _fail(f"{p}[{i}].type", f"{_show(item.get('type'))} is not allowed here; "
                        f"only {allowed}", "invalid_content_type")
        out.append(Part("text", text=_need(item, "text", (str,), f"{p}[{i}].text",
                                             "a string"), param=f"{p}[{i}]"))
    return tuple(out)


def _user_parts(content: Any, p: str) -> tuple[Part, ...]:
    if content is None:
        raise _fail(p, "is required", "missing_required_parameter")
    if isinstance(content, str):
        return (Part("text", text=content, param=p),)
    _expect(content, (list,), p, "a string or an array of content parts")
    return tuple(_user_part(item, f"{p}[{i}]") for i, item in enumerate(content))


def _user_part(item: Any, p: str) -> Part:
    if isinstance(item, str):
        return Part("text", text=item, param=p)
    _expect(item, (dict,), p, "a content part object")
    kind = item.get("type")
    if kind == "text":
        return Part("text", text=_need(item, "text", (str,), f"{p}.text", "a string"),
                    param=p)
    if kind == "input_audio":
        ia = _need(item, "input_audio", (dict,), f"{p}.input_audio", "an object")
        data = _need(ia, "data", (str,), f"{p}.input_audio.data", "a base64 string")
        fmt = _opt(ia, "format", (str,), f"{p}.input_audio.format", "a string", "wav")
        if fmt not in INPUT_AUDIO_FORMATS:
            raise _fail(f"{p}.input_audio.format", f"unsupported audio format {_show(fmt)}; "
                        "expected 'wav' or 'mp3'", "unsupported_audio_format")
        return Part("audio", audio_data=_b64(data, f"{p}.input_audio.data"), audio_format=fmt,
                    param=p)
    if kind == "image_url":
        raw = item.get("image_url")
        if isinstance(raw, dict):
            _opt(raw, "detail", (str,), f"{p}.image_url.detail", "a string", None)
            url = _need(raw, "url", (str,), f"{p}.image_url.url", "a string")
            return _image(url, f"{p}.image_url.url", p)
        url = _need(item, "image_url", (str,), f"{p}.image_url", "a URL string or {\"url\": ...}")
        return _image(url, f"{p}.image_url", p)
    if kind == "file":
        return _file(_need(item, "file", (dict,), f"{p}.file", "an object"), f"{p}.file", p)
    if kind is None:
        raise _fail(f"{p}.type", "is required", "missing_required_parameter")
    raise _fail(f"{p}.type", f"unknown content type {_show(kind)}; expected text, image_url, "
                "input_audio or file", "invalid_content_type")


def _file(raw: dict[str, Any], p: str, part_param: str) -> Part:
    """A ``file`` part: ``file_data`` (base64, or a base64 ``data:`` URL) is accepted;
    a ``file_id`` is refused, since this server keeps no uploaded files."""
    name = _opt(raw, "filename", (str,), f"{p}.filename", "a string", "")
    if raw.get("file_id") is not None and raw.get("file_data") is None:
        _expect(raw["file_id"], (str,), f"{p}.file_id", "a string")
        raise _fail(f"{p}.file_id", "this server keeps no uploaded files; send the file's "
                    "contents as file_data", "unsupported_value")
    data = _need(raw, "file_data", (str,), f"{p}.file_data", "a base64 string")
    if data.startswith("data:"):
        header, sep, data = data[5:].partition(",")
        if not sep or not header.lower().endswith(";base64"):
            raise _fail(f"{p}.file_data", "is not a base64 data: URL", "invalid_base64")
    return Part("file", file_name=name, file_data=_b64(data, f"{p}.file_data"),
                param=part_param)


def _b64(text: str, p: str) -> bytes:
    try:
        return decode_base64("".join(text.split()))  # line breaks are tolerated
    except ValueError:  # binascii.Error, or non-ASCII text
        raise _fail(p, "is not valid base64", "invalid_base64") from None


def _image(url: str, p: str, part_param: str) -> Part:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        if not urllib.parse.urlsplit(url).netloc:
            raise _fail(p, "is not a valid URL (no host)", "invalid_image_url")
        return Part("image", url=url, param=part_param)
    if scheme != "data":
        raise _fail(p, "must be an http(s) URL or a data: URL", "invalid_image_url")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise _fail(p, "is not a valid data: URL (no ',')", "invalid_image_url")
    if header.lower().endswith(";base64"):
        data = _b64(payload, p)
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    return Part("image", image_data=data, url="data:" + header, param=part_param)


def _assistant(raw: dict[str, Any], p: str) -> Message:
    parts = _string_parts(raw.get("content"), f"{p}.content", False, refusal=True)
    said = _opt(raw, "refusal", (str,), f"{p}.refusal", "a string", None)
    if said and not parts:  # a refusal is what the assistant said on that turn
        parts = (Part("text", text=said, param=f"{p}.refusal"),)
    audio_id = None
    audio = raw.get("audio")
    if audio is not None:
        _expect(audio, (dict,), f"{p}.audio", "an object")
        audio_id = _opt(audio, "id", (str,), f"{p}.audio.id", "a string", None)
    calls_raw = raw.get("tool_calls")
    if calls_raw is None:
        calls_raw = []
    elif isinstance(calls_raw, dict):  # the seed's single-object shape
        calls_raw = [calls_raw]
    _expect(calls_raw, (list,), f"{p}.tool_calls", "an array of tool calls")
    calls = []
    for i, c in enumerate(calls_raw):
        cp = f"{p}.tool_calls[{i}]"
        _expect(c, (dict,), cp, "an object")
        call_id = _need(c, "id", (str,), f"{cp}.id", "a string")
        fn = _need(c, "function", (dict,), f"{cp}.function", "an object")
        name = _need(fn, "name", (str,), f"{cp}.function.name", "a string")
        args = _opt(fn, "arguments", (str,), f"{cp}.function.arguments", "a JSON string", "{}")
        calls.append(ToolCall(call_id, name, args))
    return Message("assistant", parts, tool_calls=tuple(calls), audio_id=audio_id)


def _check_tool_ids(messages: tuple[Message, ...]) -> None:
    """A tool message must answer a call made earlier, as real servers insist."""
    seen: set[str] = set()
    for i, m in enumerate(messages):
        seen.update(c.id for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in seen:
            raise _fail(f"messages[{i}].tool_call_id", f"{_show(m.tool_call_id)} does not "
                        "answer any earlier assistant tool_calls id", "unknown_tool_call_id")
