"""Parse the ``messages`` of a chat request: roles, content parts, tool calls. Pure.

Both the spec's shapes and the practical ones are accepted (see the spec's notes);
dispatching on ``role``/``type`` first gives precise messages. Media are only decoded
from base64 here; decoding audio files and image headers is left to the caller.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from ..protocol.values import decode_base64
from .fields import expect, fail, need, opt, show
from .model import ToolCall

__all__ = ["Part", "Message", "parse_message", "check_tool_ids", "INPUT_AUDIO_FORMATS"]

INPUT_AUDIO_FORMATS = ("wav", "mp3")
_ROLES = ("system", "developer", "user", "assistant", "tool")


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


def parse_message(raw: Any, p: str) -> Message:
    expect(raw, (dict,), p, "a message object")
    role = raw.get("role")
    if role not in _ROLES:
        if role is None:
            raise fail(f"{p}.role", "is required", "missing_required_parameter")
        raise fail(f"{p}.role", f"unknown role {show(role)}; expected system, user, "
                    "assistant or tool", "invalid_role")
    opt(raw, "name", (str,), f"{p}.name", "a string", None)
    # The seed's AssistantMessage says role "system" (sic): a system message carrying
    # audio or tool calls can only be that shape, so read it as the assistant's turn.
    if role == "system" and (raw.get("audio") is not None or raw.get("tool_calls") is not None):
        role = "assistant"
    if role in ("system", "developer"):
        return Message("system", _string_parts(raw.get("content"), f"{p}.content", True))
    if role == "tool":
        call_id = need(raw, "tool_call_id", (str,), f"{p}.tool_call_id", "a string")
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
            raise fail(p, "is required", "missing_required_parameter")
        return ()
    if isinstance(content, str):
        return (Part("text", text=content, param=p),)
    expect(content, (list,), p, "a string or an array")
    out = []
    for i, item in enumerate(content):
        if isinstance(item, str):
            out.append(Part("text", text=item, param=f"{p}[{i}]"))
            continue
        expect(item, (dict,), f"{p}[{i}]", "a string or a text part")
        if refusal and item.get("type") == "refusal":
            out.append(Part("text", text=need(item, "refusal", (str,), f"{p}[{i}].refusal",
                                               "a string"), param=f"{p}[{i}]"))
            continue
        if item.get("type") != "text":
            allowed = "'text' and 'refusal' parts" if refusal else "'text' parts"
            raise fail(f"{p}[{i}].type", f"{show(item.get('type'))} is not allowed here; "
                        f"only {allowed}", "invalid_content_type")
        out.append(Part("text", text=need(item, "text", (str,), f"{p}[{i}].text",
                                             "a string"), param=f"{p}[{i}]"))
    return tuple(out)


def _user_parts(content: Any, p: str) -> tuple[Part, ...]:
    if content is None:
        raise fail(p, "is required", "missing_required_parameter")
    if isinstance(content, str):
        return (Part("text", text=content, param=p),)
    expect(content, (list,), p, "a string or an array of content parts")
    return tuple(_user_part(item, f"{p}[{i}]") for i, item in enumerate(content))


def _user_part(item: Any, p: str) -> Part:
    if isinstance(item, str):
        return Part("text", text=item, param=p)
    expect(item, (dict,), p, "a content part object")
    kind = item.get("type")
    if kind == "text":
        return Part("text", text=need(item, "text", (str,), f"{p}.text", "a string"),
                    param=p)
    if kind == "input_audio":
        ia = need(item, "input_audio", (dict,), f"{p}.input_audio", "an object")
        data = need(ia, "data", (str,), f"{p}.input_audio.data", "a base64 string")
        fmt = opt(ia, "format", (str,), f"{p}.input_audio.format", "a string", "wav")
        if fmt not in INPUT_AUDIO_FORMATS:
            raise fail(f"{p}.input_audio.format", f"unsupported audio format {show(fmt)}; "
                        "expected 'wav' or 'mp3'", "unsupported_audio_format")
        return Part("audio", audio_data=_b64(data, f"{p}.input_audio.data"), audio_format=fmt,
                    param=p)
    if kind == "image_url":
        raw = item.get("image_url")
        if isinstance(raw, dict):
            opt(raw, "detail", (str,), f"{p}.image_url.detail", "a string", None)
            url = need(raw, "url", (str,), f"{p}.image_url.url", "a string")
            return _image(url, f"{p}.image_url.url", p)
        url = need(item, "image_url", (str,), f"{p}.image_url", "a URL string or {\"url\": ...}")
        return _image(url, f"{p}.image_url", p)
    if kind == "file":
        return _file(need(item, "file", (dict,), f"{p}.file", "an object"), f"{p}.file", p)
    if kind is None:
        raise fail(f"{p}.type", "is required", "missing_required_parameter")
    raise fail(f"{p}.type", f"unknown content type {show(kind)}; expected text, image_url, "
                "input_audio or file", "invalid_content_type")


def _file(raw: dict[str, Any], p: str, part_param: str) -> Part:
    """A ``file`` part: ``file_data`` (base64, or a base64 ``data:`` URL) is accepted;
    a ``file_id`` is refused, since this server keeps no uploaded files."""
    name = opt(raw, "filename", (str,), f"{p}.filename", "a string", "")
    if raw.get("file_id") is not None and raw.get("file_data") is None:
        expect(raw["file_id"], (str,), f"{p}.file_id", "a string")
        raise fail(f"{p}.file_id", "this server keeps no uploaded files; send the file's "
                    "contents as file_data", "unsupported_value")
    data = need(raw, "file_data", (str,), f"{p}.file_data", "a base64 string")
    if data.startswith("data:"):
        header, sep, data = data[5:].partition(",")
        if not sep or not header.lower().endswith(";base64"):
            raise fail(f"{p}.file_data", "is not a base64 data: URL", "invalid_base64")
    return Part("file", file_name=name, file_data=_b64(data, f"{p}.file_data"),
                param=part_param)


def _b64(text: str, p: str) -> bytes:
    try:
        return decode_base64("".join(text.split()))  # line breaks are tolerated
    except ValueError:  # binascii.Error, or non-ASCII text
        raise fail(p, "is not valid base64", "invalid_base64") from None


def _image(url: str, p: str, part_param: str) -> Part:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("http", "https"):
        if not urllib.parse.urlsplit(url).netloc:
            raise fail(p, "is not a valid URL (no host)", "invalid_image_url")
        return Part("image", url=url, param=part_param)
    if scheme != "data":
        raise fail(p, "must be an http(s) URL or a data: URL", "invalid_image_url")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise fail(p, "is not a valid data: URL (no ',')", "invalid_image_url")
    if header.lower().endswith(";base64"):
        data = _b64(payload, p)
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    return Part("image", image_data=data, url="data:" + header, param=part_param)


def _assistant(raw: dict[str, Any], p: str) -> Message:
    parts = _string_parts(raw.get("content"), f"{p}.content", False, refusal=True)
    said = opt(raw, "refusal", (str,), f"{p}.refusal", "a string", None)
    if said and not parts:  # a refusal is what the assistant said on that turn
        parts = (Part("text", text=said, param=f"{p}.refusal"),)
    audio_id = None
    audio = raw.get("audio")
    if audio is not None:
        expect(audio, (dict,), f"{p}.audio", "an object")
        audio_id = opt(audio, "id", (str,), f"{p}.audio.id", "a string", None)
    calls_raw = raw.get("tool_calls")
    if calls_raw is None:
        calls_raw = []
    elif isinstance(calls_raw, dict):  # the seed's single-object shape
        calls_raw = [calls_raw]
    expect(calls_raw, (list,), f"{p}.tool_calls", "an array of tool calls")
    calls = []
    for i, c in enumerate(calls_raw):
        cp = f"{p}.tool_calls[{i}]"
        expect(c, (dict,), cp, "an object")
        call_id = need(c, "id", (str,), f"{cp}.id", "a string")
        fn = need(c, "function", (dict,), f"{cp}.function", "an object")
        name = need(fn, "name", (str,), f"{cp}.function.name", "a string")
        args = opt(fn, "arguments", (str,), f"{cp}.function.arguments", "a JSON string", "{}")
        calls.append(ToolCall(call_id, name, args))
    return Message("assistant", parts, tool_calls=tuple(calls), audio_id=audio_id)


def check_tool_ids(messages: tuple[Message, ...]) -> None:
    """A tool message must answer a call made earlier, as real servers insist."""
    seen: set[str] = set()
    for i, m in enumerate(messages):
        seen.update(c.id for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in seen:
            raise fail(f"messages[{i}].tool_call_id", f"{show(m.tool_call_id)} does not "
                        "answer any earlier assistant tool_calls id", "unknown_tool_call_id")
