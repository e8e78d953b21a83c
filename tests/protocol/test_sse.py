from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_splits import pieces_at, run, same_for_all_chunkings

from voicebot.protocol.sse import SSEDecoder, SSEEvent

E = SSEEvent

# (name, body, events) — expectations written from the WHATWG event-stream rules.
CASES = [
    ("lf", b"data: hello\n\n", [E("hello")]),
    ("crlf", b"data: a\r\n\r\n", [E("a")]),
    ("cr", b"data: a\r\rdata: b\r\r", [E("a"), E("b")]),
    ("mixed eol", b"data: a\r\ndata: b\n\r\n", [E("a\nb")]),
    ("multi-line data", b"data: 1\ndata: 2\ndata\n\n", [E("1\n2\n")]),
    ("no space after colon", b"data:x\n\ndata:  y\n\n", [E("x"), E(" y")]),
    ("comments", b": keep-alive\n\n:x\ndata: y\n\n", [E("y")]),
    ("fields", b"event: audio\nid: 7\nretry: 1500\ndata: z\n\n", [E("z", "audio", "7", 1500)]),
    ("id persists", b"id: 1\ndata: a\n\ndata: b\n\n", [E("a", id="1"), E("b", id="1")]),
    ("no data, no event", b"id: 5\n\nretry: 10\n\nevent: x\n\ndata: q\n\n", [E("q", id="5")]),
    ("bad retry ignored", b"retry: -1\ndata: a\n\nretry: 1x\ndata: b\n\nretry: +5\ndata: c\n\n",
     [E("a"), E("b"), E("c")]),
    ("id with NUL ignored", b"id: a\0b\ndata: x\n\n", [E("x")]),
    ("unknown field", b"foo: bar\ndata: a\n\n", [E("a")]),
    ("empty data is dispatched", b"data:\n\n", [E("")]),
    ("BOM at start", "\ufeffdata: a\n\n".encode(), [E("a")]),
    ("BOM later is text", "data: a\n\n\ufeffdata: b\n\n".encode(), [E("a")]),
    ("U+2028, NEL, VT, FF are not line breaks",
     "data: a\u2028b\u0085c\x0bd\x0ce\u2029f\n\n".encode(),
     [E("a\u2028b\u0085c\x0bd\x0ce\u2029f")]),
    ("utf-8", "data: héllo 🎵 ünï\n\n".encode(), [E("héllo 🎵 ünï")]),
    ("invalid utf-8 replaced", b"data: a\xffb\n\n", [E("a\ufffdb")]),
    ("end without blank line", b"data: a\n\ndata: b\n", [E("a"), E("b")]),
    ("end inside a line", b"data: a\n\ndata: b", [E("a")]),
    ("event type resets", b"event: x\ndata: 1\n\ndata: 2\n\n", [E("1", "x"), E("2")]),
    ("blank lines only", b"\n\r\n\r\n", []),
    ("empty body", b"", []),
]


@pytest.mark.parametrize("name,body,expected", CASES, ids=[c[0] for c in CASES])
def test_table_every_chunking(name: str, body: bytes, expected: list[SSEEvent]) -> None:
    assert same_for_all_chunkings(SSEDecoder, body) == expected


def test_cr_then_lf_in_next_feed_is_one_line_break() -> None:
    dec = SSEDecoder()
    # If CR and LF counted twice, the blank line would dispatch "a" on its own.
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\ndata: b\n") == []
    assert dec.feed(b"\n") == [E("a\nb")]


def test_cr_then_cr_in_next_feed_is_two_line_breaks() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\r") == [E("a")]


def test_reconnect_and_last_id_survive_no_data_blocks() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"retry: 3000\nid: 9\n\n") == []
    assert dec.reconnect_ms == 3000
    assert dec.last_event_id == "9"


@pytest.mark.timeout(10)
def test_500kb_line_in_1kb_pieces() -> None:
    payload = base64.b64encode(os.urandom(375_000)).decode()  # 500 000 characters
    body = f"data: {payload}\n\n".encode()
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    for i in range(0, len(body), 1024):
        events.extend(dec.feed(body[i:i + 1024]))
    assert events == [E(payload)]


# --- property: any chunking of any valid stream gives the generated events ----------

_line_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                     max_size=12)
_field_text = st.text(st.characters(blacklist_characters="\r\n\0",
                                    blacklist_categories=("Cs",)), min_size=1, max_size=6)
_event = st.tuples(st.lists(_line_text, min_size=1, max_size=3),   # data lines
                   st.none() | _field_text,                          # event type
                   st.none() | _field_text,                          # id
                   st.none() | st.integers(0, 10**6),                # retry
                   st.booleans())                                    # comment first
_eol = st.sampled_from(["\n", "\r", "\r\n"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, max_size=5), st.data(), st.booleans())
def test_any_stream_any_chunking(events, data, bom) -> None:
    text, expected, last_id = "\ufeff" if bom else "", [], ""
    eol = ""
    for lines, event, eid, retry, comment in events:
        block = []
        if comment:
            block.append(": ping")
        if event is not None:
            block.append(f"event: {event}")
        if eid is not None:
            block.append(f"id: {eid}")
            last_id = eid
        if retry is not None:
            block.append(f"retry: {retry}")
        block.extend(f"data: {line}" for line in lines)
        block.append("")
        for line in block:
            # After a CR, an empty line ending in LF would merge into one CRLF break.
            eol = "\r" if (eol == "\r" and not line) else data.draw(_eol)
            text += line + eol
        expected.append(E("\n".join(lines), event or "message", last_id, retry))
    body = text.encode()
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert run(SSEDecoder, pieces_at(body, cuts)) == expected
