"""The local assistant's state per conversation: bounded, expiring, keyed per request. Pure.

The HTTP API is stateless, so each request must say which conversation it belongs to:

* ``user`` (OpenAI's end-user id), when the request has one: ``user:<id>``. A client
  that wants one user's timers to outlive a conversation, or that trims its history,
  sends it.
* otherwise the conversation's opening: a hash of its messages up to and including the
  first user message (``conv:<sha256>``). A client resends the whole history each turn,
  so the opening — and the key — stays the same for the whole conversation, while two
  conversations share state only if they opened with the very same words (or audio
  bytes: a recorded first utterance is unique in practice).

Scopes are kept in least-recently-used order: at most ``capacity`` of them, each
forgotten once idle for ``idle_ttl_s``, so clients cannot grow memory without bound.
Time is passed in (epoch seconds); nothing reads a clock.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from .assistant import Assistant
from ..skills.timers import TimerBook
from .validate import ChatRequest

__all__ = ["Conversations", "conversation_key", "DEFAULT_CAPACITY", "DEFAULT_IDLE_TTL_S"]

#: Conversations remembered at once; the least recently used is dropped past this.
DEFAULT_CAPACITY = 4096
#: Long enough that the longest timer has ended and been reported for its full time.
DEFAULT_IDLE_TTL_S = TimerBook.MAX_DURATION_S + TimerBook.KEEP_ENDED_S


def conversation_key(req: ChatRequest) -> str:
    """The scope ``req`` belongs to (see the module docstring)."""
    if req.user:
        return "user:" + req.user
    digest = hashlib.sha256()
    for msg in req.messages:
        digest.update(f"\0{msg.role}\0".encode())
        for part in msg.parts:
            digest.update(f"\1{part.kind}\1{part.text}\1{part.url}\1{part.audio_format}\1"
                          .encode())
            digest.update(part.audio_data)
            digest.update(part.image_data or b"")
            digest.update(part.file_data)
        if msg.role == "user":
            break
    return "conv:" + digest.hexdigest()


class Conversations:
    """An :class:`Assistant` per conversation key. Not thread-safe: the server's event-loop
    thread owns it."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY,
                 idle_ttl_s: float = DEFAULT_IDLE_TTL_S,
                 new_assistant: Callable[[], Assistant] = Assistant) -> None:
        if capacity < 1 or idle_ttl_s <= 0:
            raise ValueError("capacity and idle_ttl_s must be positive")
        self.capacity = capacity
        self.idle_ttl_s = idle_ttl_s
        self._new_assistant = new_assistant
        self._scopes: OrderedDict[str, tuple[Assistant, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scopes)

    def assistant(self, key: str, now_s: float) -> Assistant:
        """The assistant of conversation ``key``, new if unknown, forgotten or expired."""
        self._expire(now_s)
        entry = self._scopes.pop(key, None)
        assistant = entry[0] if entry is not None else self._new_assistant()
        self._scopes[key] = (assistant, now_s)
        while len(self._scopes) > self.capacity:
            self._scopes.popitem(last=False)
        return assistant

    def _expire(self, now_s: float) -> None:
        # Least recently used first, so the idle ones are at the front.
        while self._scopes:
            _, last_used = next(iter(self._scopes.values()))
            if now_s - last_used < self.idle_ttl_s:
                break
            self._scopes.popitem(last=False)
