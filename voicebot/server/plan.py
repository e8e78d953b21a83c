"""Pure steps between a parsed request and the bytes sent: turns, speech plan, JSON output.

Nothing here does I/O or reads a clock; :mod:`.completion` runs the slow parts
(decoding, recognition, synthesis) in worker threads and calls these.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, RequestError, SSMLError
from ..protocol.ssml import escape_text, strip_ssml, validate_ssml, wrap_speak
from .chunks import Usage, audio_tokens_in, estimate_text_tokens
from .images import sniff_image
from .model import Reply, Turn
from .schemafill import FillHints, fill_schema
from ..speech.sentences import split_sentences, split_ssml
from .validate import ChatRequest, Part

__all__ = ["Spoken", "Heard", "looks_like_ssml", "build_turns", "plan_speech",
           "structured_content", "IMAGE_TOKENS"]

#: What a low-detail image costs on real servers; counted so usage is not zero.
IMAGE_TOKENS = 85


@dataclass(frozen=True)
class Spoken:
    """One sentence to synthesise: ``transcript`` is sent as text, ``speak`` to espeak."""
    transcript: str
    speak: str
    ssml: bool


@dataclass(frozen=True)
class Heard:
    """The recognised text and duration of one ``input_audio`` part."""
    text: str
    duration_s: float


def looks_like_ssml(text: str) -> bool:
    head = text.lstrip()
    return head.startswith("<speak") or (head.startswith("<?xml") and "<speak" in head)


def _text_of(text: str, ssml_enabled: bool, param: str) -> tuple[str, str | None]:
    """Plain text of a text part, plus the SSML document when it is one (and enabled)."""
    if not (ssml_enabled and looks_like_ssml(text)):
        return text, None
    try:
        validate_ssml(text)
    except SSMLError as exc:
        raise RequestError(f"{param}: {exc}", param=param, code="invalid_ssml") from None
    return " ".join(strip_ssml(text).split()), text


def build_turns(req: ChatRequest, heard: dict[tuple[int, int], Heard],
                remembered: dict[int, str], usage: Usage) -> list[Turn]:
    """Turn the request's messages into the assistant's turns.

    ``heard[(message, part)]`` holds each ``input_audio`` part's transcript;
    ``remembered[message]`` the transcript of an assistant message's ``audio.id``
    (already resolved by the caller). Adds the prompt's token counts to ``usage``.
    Raises ``RequestError`` for malformed SSML or an image that is not an image.
    """
    turns: list[Turn] = []
    call_names: dict[str, str] = {}
    for mi, msg in enumerate(req.messages):
        texts: list[str] = []
        notes: list[str] = []
        ssml: str | None = None
        spoken = False
        for pi, part in enumerate(msg.parts):
            if part.kind == "text":
                plain, doc = _text_of(part.text, req.ssml_enabled and msg.role in
                                      ("user", "tool"), part.param)
                texts.append(plain)
                ssml = ssml or doc
                usage.prompt_text_tokens += estimate_text_tokens(plain)
            elif part.kind == "audio":
                h = heard[(mi, pi)]
                texts.append(h.text)
                spoken = True
                usage.prompt_audio_tokens += audio_tokens_in(h.duration_s)
            elif part.kind == "file":
                notes.append(_file_note(part))
                usage.prompt_text_tokens += estimate_text_tokens(notes[-1])
            else:
                notes.append(_image_note(part, f"{part.param}.image_url"))
                usage.prompt_text_tokens += IMAGE_TOKENS
        text = " ".join(t.strip() for t in texts if t.strip())
        if msg.role == "assistant" and mi in remembered and not text:
            text = remembered[mi]
            usage.prompt_text_tokens += estimate_text_tokens(text)
        for call in msg.tool_calls:
            call_names[call.id] = call.name
            usage.prompt_text_tokens += estimate_text_tokens(call.arguments) + 3
        turns.append(Turn(role=msg.role, text=text, ssml=ssml, notes=tuple(notes),
                          spoken=spoken, tool_calls=msg.tool_calls,
                          tool_call_id=msg.tool_call_id,
                          tool_name=call_names.get(msg.tool_call_id or "")))
    return turns


def _file_note(part: Part) -> str:
    size = len(part.file_data)
    amount = f"{size} bytes" if size < 10_000 else f"{round(size / 1000)} kilobytes"
    name = f" named {part.file_name}" if part.file_name else ""
    return f"You sent a file{name} of {amount}. I can't read files."


def _image_note(part: Part, param: str) -> str:
    if part.image_data is None:
        host = urllib.parse.urlsplit(part.url).hostname or "the web"
        return (f"You sent a link to an image on {host}. I don't fetch remote images, "
                "so I can't tell you anything about it.")
    info = sniff_image(part.image_data)
    if info is None:
        raise RequestError(f"{param}: the data is not a PNG, JPEG, GIF, WebP or BMP image",
                           param=param, code="invalid_image")
    return f"You sent {info.describe()}. I can't see what it shows."


def plan_speech(reply: Reply, *, ssml_enabled: bool) -> list[Spoken]:
    """The reply cut into sentences to synthesise one by one.

    With ``ssml_enabled`` everything renders through espeak's SSML mode (plain sentences
    escaped and wrapped in ``<speak>``); the client's own SSML keeps its markup. Every
    SSML piece is validated here, so synthesis cannot fail on it mid-stream.
    """
    out: list[Spoken] = []
    for seg in reply.segments:
        if seg.ssml is not None:
            for piece in split_ssml(seg.ssml):
                out.append(Spoken(" ".join(strip_ssml(piece).split()), piece, True))
            continue
        for sentence in split_sentences(seg.text):
            speak = wrap_speak(escape_text(sentence)) if ssml_enabled else sentence
            out.append(Spoken(sentence, speak, ssml_enabled))
    for s in out:
        if s.ssml:
            try:
                validate_ssml(s.speak)
            except SSMLError as exc:
                raise RequestError(f"the reply cannot be spoken as SSML: {exc}",
                                   code="invalid_ssml") from None
    return out


def structured_content(schema: dict[str, Any], reply: Reply, heard: str,
                       now: dt.datetime) -> str:
    """The reply as JSON text valid against ``schema``, or ``RequestError`` saying why not."""
    hints = FillHints(text=reply.text, heard=heard, number=reply.number, now=now)
    try:
        value = fill_schema(schema, hints, all_properties=True)
    except InputError as exc:
        raise RequestError(f"response_format.json_schema.schema: {exc}",
                           param="response_format.json_schema.schema",
                           code="unsupported_schema") from None
    return json.dumps(value, ensure_ascii=False)
