"""SSML: validate what the user sends, escape plain text, strip markup from transcripts.

Pure string work, any thread. :func:`validate_ssml` uses the standard library's
expat (no third-party XML stack needed) with DOCTYPE refused before parsing, so
entity-expansion tricks never reach the parser. :class:`SSMLStripper` is a small
hand-written state machine, see its docstring for why.
"""

from __future__ import annotations

import re
from xml.parsers import expat

from ..errors import SSMLError

__all__ = [
    "SSML_ELEMENTS",
    "validate_ssml",
    "escape_text",
    "wrap_speak",
    "SSMLStripper",
    "strip_ssml",
]

#: Elements the common TTS services (and eSpeak NG) understand.
SSML_ELEMENTS = frozenset({"speak", "break", "prosody", "emphasis", "say-as", "phoneme",
                           "sub", "voice", "p", "s", "audio", "mark", "lang"})
#: Google's limit is 5000 bytes and Polly's 6000 characters; the stricter one wins.
MAX_SSML_BYTES = 5000
MAX_DEPTH = 16

_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 forbids anywhere (C0 controls other than tab, LF, CR, lone
# surrogates, two non-characters). They would make the SSML not well-formed.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def validate_ssml(text: str, *, max_bytes: int = MAX_SSML_BYTES, max_depth: int = MAX_DEPTH,
                  elements: frozenset[str] = SSML_ELEMENTS) -> None:
    """Raise :class:`~voicebot.errors.SSMLError` unless ``text`` is a usable SSML document.

    Checks, in order: UTF-8 size at most ``max_bytes``; no DOCTYPE or ENTITY
    declaration; well-formed XML (the message gives line and column); root element
    ``<speak>``; nesting at most ``max_depth`` elements deep; only ``elements`` (by
    local name, so namespaced SSML passes). Returns ``None`` when all pass.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line, col = _position(text, exc.start)
        raise SSMLError(f"SSML contains an unpaired surrogate (line {line}, column {col})") \
            from None
    size = len(data)
    if size > max_bytes:
        raise SSMLError(f"SSML is {size} bytes; the limit is {max_bytes}")
    if not text.strip():
        raise SSMLError("SSML is empty; it needs a <speak> root element")
    if not text.lstrip().startswith("<"):
        raise SSMLError("SSML must be a <speak> document; plain text needs escape_text() "
                        "and wrap_speak()")
    m = _DOCTYPE.search(text)
    if m:
        line, col = _position(text, m.start())
        raise SSMLError(f"SSML must not contain a {m.group(1).upper()} declaration "
                        f"(line {line}, column {col})")

    parser = expat.ParserCreate(namespace_separator=" ")
    depth = 0

    def fail(message: str) -> None:
        raise SSMLError(f"{message} (line {parser.CurrentLineNumber}, "
                        f"column {parser.CurrentColumnNumber + 1})")

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        local = name.rpartition(" ")[2]
        if depth == 0 and local != "speak":
            fail(f"SSML root element must be <speak>, not <{local}>")
        depth += 1
        if depth > max_depth:
            fail(f"SSML nests elements deeper than {max_depth}")
        if local not in elements:
            fail(f"SSML element <{local}> is not supported")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse_entity(*args: object) -> None:   # belt and braces after the regex
        fail("SSML must not declare entities")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.EntityDeclHandler = refuse_entity
    parser.StartDoctypeDeclHandler = refuse_entity
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise SSMLError(f"SSML is not well-formed XML: {reason} "
                        f"(line {exc.lineno}, column {exc.offset + 1})") from None


def escape_text(text: str) -> str:
    """Plain text → SSML character data: ``&``, ``<`` and ``>`` escaped.

    Characters XML cannot carry at all (NUL and other C0 controls) are removed.
    The result goes between tags, not into attribute values.
    """
    return _XML_ILLEGAL.sub("", text).translate(_ESCAPES)


def wrap_speak(ssml: str) -> str:
    """Make an SSML fragment a document: wrap it in ``<speak>…</speak>``.

    ``ssml`` is markup: plain text must go through :func:`escape_text` first.
    A fragment that already is a ``<speak>`` document (optionally after an XML
    declaration) is returned unchanged.
    """
    head = ssml.lstrip()
    if head.startswith("<?xml"):
        head = head[head.find("?>") + 2:].lstrip() if "?>" in head else head
    if re.match(r"<speak[\s/>]", head):
        return ssml
    return f"<speak>{ssml}</speak>"


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- stripping ------------------------------------------------------------------

_TEXT, _LT, _TAG, _COMMENT, _CDATA, _ENTITY = range(6)
_SPECIAL = re.compile(r"[<&]")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_MAX_ENTITY = 12          # "&#x10FFFF;" is 10; longer is not an entity


class SSMLStripper:
    """Incremental SSML → plain text, for transcripts shown while they stream.

    Call :meth:`feed` with each transcript delta in order; it returns the plain text
    that delta completed. Markup is removed even when a tag (``<brea`` +
    ``k time="1s"/>``) or an entity (``&am`` + ``p;``) is split across deltas; such
    a piece is held back until it is complete. Call :meth:`end` when the transcript
    is over to get anything still held. Not thread-safe; runs on the caller's thread.

    Forgiving by design, because transcripts are fragments and often not well-formed:
    a ``<`` not followed by a tag-name character (``3 < 5``) is text, an ``&`` that
    does not start one of the XML entities or a character reference is text, and a
    tag still open at :meth:`end` is given back as text. Comments are dropped and
    CDATA content is kept. Written by hand because expat stops at the first
    well-formedness error and ``html.parser`` applies HTML rules (HTML5 named
    entities, version-dependent handling of input that ends mid-tag).
    """

    def __init__(self) -> None:
        self._state = _TEXT
        self._held: list[str] = []   # the tag / entity / "]]" being read
        self._quote = ""             # the quote character open inside a tag, if any

    def feed(self, text: str) -> str:
        """Strip the next piece; return the plain text it completed (maybe ``""``)."""
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            state = self._state
            if state == _TEXT:
                m = _SPECIAL.search(text, i)
                if m is None:
                    out.append(text[i:])
                    break
                out.append(text[i:m.start()])
                self._held = [m.group()]
                self._state = _LT if m.group() == "<" else _ENTITY
                i = m.end()
                continue
            c = text[i]
            if state == _LT:
                if c.isalpha() or c in "_:/!?":
                    self._held.append(c)
                    self._state = _TAG
                    i += 1
                else:                            # not a tag: the "<" was text
                    out.append("<")
                    self._held = []
                    self._state = _TEXT          # reprocess c as text
            elif state == _TAG:
                i = self._tag(text, i)
            elif state == _COMMENT:
                # _held keeps the comment's last two characters, so that a "-->"
                # split across pieces is still found.
                tail = "".join(self._held)
                k = (tail + text[i:]).find("-->")
                if k < 0:
                    self._held = [(tail + text[i:])[-2:]]
                    break
                i += k + 3 - len(tail)
                self._held, self._state = [], _TEXT
            elif state == _CDATA:
                i = self._cdata(text, i, out)
            else:                                # _ENTITY
                if c == ";":
                    out.append(_entity("".join(self._held) + ";"))
                    self._held, self._state = [], _TEXT
                    i += 1
                elif (c.isalnum() or c == "#") and len(self._held) < _MAX_ENTITY:
                    self._held.append(c)
                    i += 1
                else:                            # not an entity: give it back as text
                    out.append("".join(self._held))
                    self._held, self._state = [], _TEXT
        return "".join(out)

    def end(self) -> str:
        """The transcript is over: return held text (an unfinished tag or entity as is)."""
        held = "".join(self._held)
        state = self._state
        self._state, self._held, self._quote = _TEXT, [], ""
        if state in (_LT, _TAG, _ENTITY):
            return held
        if state == _CDATA:
            return held                          # a "]" or "]]" that never became "]]>"
        return ""                                # an unclosed comment is dropped

    def _tag(self, text: str, i: int) -> int:
        """Consume tag characters from ``text[i]``; return the next index."""
        n = len(text)
        held = self._held
        while i < n:
            c = text[i]
            i += 1
            if self._quote:
                if c == self._quote:
                    self._quote = ""
            elif c == ">":
                self._held, self._state = [], _TEXT
                return i
            elif c in "\"'" and len(held) > 1 and held[1] not in "!?":
                self._quote = c
            held.append(c)
            if len(held) == 4 and "".join(held) == "<!--":
                self._held, self._state = [], _COMMENT
                return i
            if len(held) == 9 and "".join(held) == "<![CDATA[":
                self._held, self._state = [], _CDATA
                return i
        return i

    def _cdata(self, text: str, i: int, out: list[str]) -> int:
        """Copy CDATA content from ``text[i]`` until ``]]>``; return the next index."""
        n = len(text)
        while i < n:
            c = text[i]
            i += 1
            if c == "]":
                self._held.append(c)
                if len(self._held) > 2:          # "]]]": the first "]" was content
                    out.append(self._held.pop(0))
            elif c == ">" and len(self._held) == 2:
                self._held, self._state = [], _TEXT
                return i
            else:
                out.append("".join(self._held))
                self._held = []
                out.append(c)
        return i


def _entity(ref: str) -> str:
    """``&name;`` → its character, or ``ref`` unchanged if it is not a known entity."""
    body = ref[1:-1]
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            return chr(code) if 0 < code < 0x110000 else ref
        except ValueError:
            return ref
    return _NAMED.get(body, ref)


def strip_ssml(text: str) -> str:
    """Whole-string :class:`SSMLStripper`: the plain text of an SSML string or fragment."""
    stripper = SSMLStripper()
    return stripper.feed(text) + stripper.end()
