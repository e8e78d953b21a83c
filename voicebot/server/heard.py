"""What the server heard in input audio it was sent before, so it is not decoded again.

A conversation's requests carry the user's last turns as audio (the client keeps the
last two: ``Conversation.max_audio_turns``), and a tool call's follow-up request carries
the same question again: without this, every request recognised the previous turn's
audio once more (140-310 ms per question with pocketsphinx) before the new one.
Recognition is deterministic (the same bytes give the same text), so the text is kept
by a digest of the audio file's bytes and format. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from .plan import Heard

__all__ = ["HeardCache"]


class HeardCache:
    """The last ``max_entries`` transcripts by audio digest, least recently used dropped.

    Not thread-safe: the server uses it on its event loop only.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, Heard] = OrderedDict()

    @staticmethod
    def key(data: bytes, fmt: str) -> bytes:
        """The cache key of an audio file's ``data`` in format ``fmt``."""
        return hashlib.sha256(fmt.encode() + b"\0" + data).digest()

    def get(self, key: bytes) -> Heard | None:
        heard = self._entries.get(key)
        if heard is not None:
            self._entries.move_to_end(key)
        return heard

    def put(self, key: bytes, heard: Heard) -> None:
        self._entries[key] = heard
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
