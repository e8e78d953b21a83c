"""Feed a sans-I/O decoder the same input in every way that matters.

Each case goes in whole, one byte at a time, and split in two at every offset; the
event lists must be equal. A ProtocolError is recorded as a final marker so that
"the events before the error" are compared too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from voicebot.errors import ProtocolError


class Decoder(Protocol):
    def feed(self, data: Any) -> Any: ...
    def end(self) -> Any: ...


ERROR = "<ProtocolError>"


def chunkings(data: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
    """(name, pieces): whole, piece-by-piece, and every two-way split."""
    yield "whole", [data]
    yield "one at a time", [data[i:i + 1] for i in range(len(data))]
    for k in range(1, len(data)):
        yield f"split at {k}", [data[:k], data[k:]]


def pieces_at(data: Sequence[Any], cuts: list[int]) -> list[Any]:
    """``data`` cut at the given offsets (clamped, sorted, any duplicates)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def run(factory: Callable[[], Decoder], pieces: list[Any]) -> list[Any]:
    """Feed ``pieces`` then end(); a ProtocolError ends the list with ERROR."""
    decoder = factory()
    out: list[Any] = []
    try:
        for piece in pieces:
            out.extend(decoder.feed(piece))
        out.extend(decoder.end())
    except ProtocolError:
        out.append(ERROR)
    return out


def same_for_all_chunkings(factory: Callable[[], Decoder], data: Sequence[Any]) -> list[Any]:
    """Assert every chunking gives what the whole input gives; return that."""
    whole = run(factory, [data])
    for name, pieces in chunkings(data):
        assert run(factory, pieces) == whole, name
    return whole
