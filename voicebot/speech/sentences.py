"""Sentence splitting for streaming speech synthesis. Pure: no I/O, no clock, no state
shared between calls.

The synthesiser speaks one sentence at a time so the first audio leaves after the
first sentence, not after the whole reply. Three entry points:

* :func:`split_sentences` — plain text → sentences.
* :class:`SentenceBuffer` — the same split, fed text as it streams in
  (``feed()`` returns the sentences that are complete, ``flush()`` the rest).
* :func:`split_ssml` — an SSML document → smaller SSML documents, cut only at
  top-level ``<s>``/``<p>`` elements and at sentence ends in top-level text, never
  inside an element, so every piece is well-formed and keeps its markup.

Rules (why hand-written: no small, well-kept library splits streaming text; NLTK's
punkt or spaCy would pull in hundreds of MB for a few regular expressions):

* a sentence ends after a run of ``.``, ``!``, ``?`` or ``…`` plus any closing
  quotes/brackets, when whitespace or the end of the text follows;
* not after a known abbreviation ("Dr.", "e.g."), a dotted acronym ("U.S."), or a
  single-letter initial ("J."), when the text goes on;
* not when the next word starts with a lower-case letter ("approx. five");
* a blank line also ends a sentence;
* decimals ("3.5"), times ("10:30") and addresses ("example.com") never split,
  because no whitespace follows the dot.
"""

from __future__ import annotations

import re
import xml.parsers.expat

from ..errors import SSMLError

__all__ = ["SentenceBuffer", "sentence_spans", "split_sentences", "split_ssml"]

# Lower-case, without the final dot. Kept short on purpose: a missed split only
# delays audio a little, a wrong split makes speech sound choppy.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "e.g", "i.e",
    "approx", "no", "nos", "fig", "figs", "vol", "ch", "sec", "gen", "gov", "capt",
    "col", "lt", "sgt", "rev", "hon", "inc", "ltd", "co", "corp", "dept", "est",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "a.m", "p.m", "u.s", "u.k", "cf", "al",
})

# A terminator run, its closing quotes/brackets, then the whitespace after it.
_END = re.compile(r"[.!?…]+[\"'”’»)\]}]*(?=\s|$)")
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")
_WORD_BEFORE = re.compile(r"(\S+)$")


def _is_abbreviation(text: str, dot_at: int) -> bool:
    """True when the single ``.`` at ``dot_at`` closes an abbreviation or initial."""
    match = _WORD_BEFORE.search(text, 0, dot_at)
    if match is None:
        return False
    word = match.group(1).lstrip("\"'“‘«([{").lower()
    if word in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    # Dotted acronyms: "U.S", "e.g", "a.m" (the final dot is at dot_at).
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _cuts(text: str, *, end_is_boundary: bool) -> list[int]:
    """Offsets just after each sentence end in ``text``, in order.

    A terminator at the very end of ``text`` counts when ``end_is_boundary`` (the
    caller knows nothing follows, or that markup follows).
    """
    cuts: list[int] = []
    for match in _END.finditer(text):
        end = match.end()
        rest = text[end:].lstrip()
        if not rest and not end_is_boundary:
            continue
        terminators = match.group(0).rstrip("\"'”’»)]}")
        # An abbreviation never ends a sentence, not even at the end of a run:
        # in SSML "Dr. <emphasis>Smith</emphasis>" the name follows in markup.
        if terminators == "." and _is_abbreviation(text, match.start()):
            continue
        if rest[:1].islower():
            continue
        cuts.append(end)
    for match in _PARAGRAPH.finditer(text):
        if text[match.end():].strip():
            cuts.append(match.start())
    return sorted(set(cuts))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of each sentence of ``text``.

    Spans exclude surrounding whitespace; empty sentences are dropped; the last
    span may lack a terminator (the unfinished rest of the text).
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*_cuts(text, end_is_boundary=True), len(text)]:
        piece = text[start:cut]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
        start = cut
    return spans


def split_sentences(text: str) -> list[str]:
    """Split plain ``text`` into sentences, each stripped of surrounding whitespace.

    ``"Dr. Smith arrived at 10:30. It cost 3.5 dollars!"`` gives two sentences.
    Returns ``[]`` for blank text. Any thread.
    """
    return [text[a:b] for a, b in sentence_spans(text)]


class SentenceBuffer:
    """Incremental :func:`split_sentences` for text that arrives in pieces.

    ``feed()`` each piece as it arrives and speak the sentences it returns; call
    ``flush()`` once at the end for the rest. Whatever the pieces, the sentences
    returned overall equal ``split_sentences(whole_text)``. Not thread-safe: one
    owner feeds it.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the sentences that are now known to be complete."""
        self._pending += text
        spans = sentence_spans(self._pending)
        # A sentence is final only once the next one has begun: until then more
        # text could extend it ("Dr" + ". Smith", or a closing quote).
        if len(spans) < 2:
            return []
        done = [self._pending[a:b] for a, b in spans[:-1]]
        self._pending = self._pending[spans[-1][0]:]
        return done

    def flush(self) -> list[str]:
        """Return the remaining sentences and empty the buffer."""
        rest, self._pending = self._pending, ""
        return split_sentences(rest)


# --- SSML -----------------------------------------------------------------------

_BLOCK_ELEMENTS = frozenset({"s", "p"})
_TAG_NAME = re.compile(r"</?([^\s/>]+)")


def _tokens(ssml: str) -> list[str]:
    """The document's exact source text cut into tags, text and other markup.

    expat's default handler receives every piece of the source verbatim (whole
    tags, entity references, text), so pieces cut from these tokens keep the
    client's markup byte for byte and need no re-serialisation. A CDATA section is
    joined into one token so that nothing cuts inside it.
    """
    raw: list[str] = []
    parser = xml.parsers.expat.ParserCreate()
    parser.DefaultHandler = raw.append
    try:
        parser.Parse(ssml.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as exc:
        reason = xml.parsers.expat.errors.messages[exc.code]
        raise SSMLError(f"malformed SSML: {reason} at line {exc.lineno}, "
                        f"column {exc.offset + 1}") from None
    tokens: list[str] = []
    cdata: list[str] | None = None
    for token in raw:
        if cdata is not None:
            cdata.append(token)
            if token == "]]>":
                tokens.append("".join(cdata))
                cdata = None
        elif token == "<![CDATA[":
            cdata = [token]
        else:
            tokens.append(token)
    return tokens


def _kind(token: str) -> str:
    """'text', 'start', 'empty', 'end', 'cdata' or 'other' (comment, PI, declaration)."""
    if not token.startswith("<"):
        return "text"
    if token.startswith("<![CDATA["):
        return "cdata"
    if token.startswith(("<!", "<?")):
        return "other"
    if token.startswith("</"):
        return "end"
    return "empty" if token.endswith("/>") else "start"


def _tag_name(token: str) -> str:
    match = _TAG_NAME.match(token)
    return match.group(1) if match else ""


def split_ssml(ssml: str) -> list[str]:
    """Cut a well-formed SSML document into smaller complete SSML documents.

    Cuts fall only between top-level children of the root: around each top-level
    ``<s>``/``<p>``, and at sentence ends (see the module rules) in text directly
    under the root. Nothing inside another element (``<prosody>``…) is cut, so
    every piece is well-formed and keeps its markup; each is wrapped in the
    original root start tag. Top-level comments and processing instructions are
    dropped; blank pieces are skipped. Raises :class:`SSMLError` if ``ssml`` is
    not well-formed XML (validate it first for a more specific message).
    """
    root_open = root_close = ""
    pieces: list[str] = []
    current: list[str] = []   # source text of the piece being built
    run: list[str] = []       # consecutive text tokens directly under the root
    element: list[str] = []   # source text of the top-level element being read
    depth = 0

    def end_piece() -> None:
        body = "".join(current)
        current.clear()
        if body.strip():
            pieces.append(root_open + body + root_close)

    def end_run() -> None:
        text = "".join(run)
        run.clear()
        start = 0
        # Markup or the root's end tag follows the run, so a terminator at its end
        # ends a sentence (the lower-case rule cannot look past the run).
        for cut in _cuts(text, end_is_boundary=True):
            current.append(text[start:cut])
            end_piece()
            start = cut
        current.append(text[start:])

    def end_element() -> None:
        is_block = _tag_name(element[0]).rsplit(":", 1)[-1] in _BLOCK_ELEMENTS
        if is_block:
            end_piece()
        current.append("".join(element))
        element.clear()
        if is_block:
            end_piece()

    for token in _tokens(ssml):
        kind = _kind(token)
        if depth == 0:  # before the root element (XML declaration, comments)
            if kind in ("start", "empty"):
                root_open, root_close = token, f"</{_tag_name(token)}>"
                if kind == "empty":
                    break
                depth = 1
            continue
        if depth == 1:
            if kind == "text":
                run.append(token)
                continue
            end_run()
            if kind == "end":  # the root closes: nothing after it is spoken
                end_piece()
                break
            if kind == "cdata":
                current.append(token)
            elif kind in ("start", "empty"):
                element.append(token)
                if kind == "empty":
                    end_element()
                else:
                    depth = 2
            continue
        element.append(token)
        if kind == "start":
            depth += 1
        elif kind == "end":
            depth -= 1
            if depth == 1:
                end_element()
    return pieces
