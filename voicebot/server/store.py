"""A bounded, expiring store of spoken replies, keyed by their ``audio.id``.

A later turn references an earlier spoken reply as ``{"role": "assistant", "audio":
{"id": ...}}``; the server resolves it here to the reply's transcript. Pure: the time
is passed in (epoch seconds), nothing reads a clock, and ids come from an injectable
factory so tests can make them predictable.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AudioStore", "StoredAudio", "DEFAULT_TTL_S", "DEFAULT_CAPACITY"]

#: Real servers keep a reply's audio referencable for about an hour.
DEFAULT_TTL_S = 3600
#: Oldest entries are dropped past this many, so memory stays bounded under load.
DEFAULT_CAPACITY = 1024


def _random_id() -> str:
    return "audio_" + secrets.token_hex(12)


@dataclass(frozen=True)
class StoredAudio:
    audio_id: str
    transcript: str
    expires_at: int  # epoch seconds


class AudioStore:
    """Maps ``audio.id`` → transcript until ``expires_at``; at most ``capacity`` entries.

    Not thread-safe: the server touches it only from its event-loop thread.
    """

    def __init__(self, *, ttl_s: int = DEFAULT_TTL_S, capacity: int = DEFAULT_CAPACITY,
                 new_id: Callable[[], str] = _random_id) -> None:
        if capacity < 1 or ttl_s < 1:
            raise ValueError("capacity and ttl_s must be positive")
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._new_id = new_id
        self._items: OrderedDict[str, StoredAudio] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, transcript: str, now_s: float) -> StoredAudio:
        """Store a new reply's transcript; returns its fresh id and expiry to send."""
        self.expire(now_s)
        entry = StoredAudio(self._new_id(), transcript, int(now_s) + self.ttl_s)
        self._items[entry.audio_id] = entry
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return entry

    def get(self, audio_id: str, now_s: float) -> StoredAudio | None:
        """The entry for ``audio_id``, or None when it is unknown, evicted or expired."""
        entry = self._items.get(audio_id)
        if entry is None:
            return None
        if now_s >= entry.expires_at:
            del self._items[audio_id]
            return None
        return entry

    def expire(self, now_s: float) -> None:
        """Drop every expired entry. Entries are in expiry order, so this stops early."""
        while self._items:
            first = next(iter(self._items.values()))
            if now_s < first.expires_at:
                break
            self._items.popitem(last=False)
