"""Assemble streamed :class:`ToolCallDelta` pieces into whole tool calls.

Sans-I/O and pure: feed the deltas :class:`~voicebot.protocol.stream.ChunkDecoder`
returned, in order; read :meth:`ToolCallAccumulator.calls` once the stream finished
(``finish_reason`` ``tool_calls``). Not thread-safe; runs on the caller's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .events import ToolCallDelta

__all__ = ["ToolCall", "ToolCallAccumulator"]


@dataclass(frozen=True)
class ToolCall:
    """One whole function call the model asked for. ``arguments`` is the JSON text as sent."""

    id: str
    name: str
    arguments: str

    def to_dict(self) -> dict[str, Any]:
        """The call as it goes back in an assistant message's ``tool_calls`` array."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


class _Slot:
    __slots__ = ("id", "name", "arguments")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []


class ToolCallAccumulator:
    """Concatenates partial tool calls by ``index``.

    Rules, chosen to accept both shapes servers send:

    * ``arguments`` pieces concatenate in arrival order (they split anywhere).
    * ``id`` and ``name`` are taken from the first delta that has them; a repeat of
      the same value is ignored (the seed's single-object shape may repeat them),
      a different ``name`` piece is appended (a name split across deltas).
    * A delta whose ``id`` differs from the id already at that ``index`` starts a
      new call: the seed's shape has no ``index`` (so every call arrives as index 0)
      and the id is the only thing telling two calls apart.
    * A call that never got an id gets ``call_<index>`` (``call_<index>_<n>`` for
      the n-th extra call at one index), so the ids are deterministic.
    """

    def __init__(self) -> None:
        self._slots: dict[int, list[_Slot]] = {}

    def feed(self, delta: ToolCallDelta) -> None:
        """Add one piece. Pure bookkeeping; never raises."""
        slots = self._slots.setdefault(delta.index, [])
        if not slots or (delta.id and slots[-1].id and delta.id != slots[-1].id):
            slots.append(_Slot())
        slot = slots[-1]
        if delta.id and slot.id is None:
            slot.id = delta.id
        if delta.name:
            if slot.name is None:
                slot.name = delta.name
            elif delta.name != slot.name:
                slot.name += delta.name
        if delta.arguments:
            slot.arguments.append(delta.arguments)

    def calls(self) -> list[ToolCall]:
        """The calls so far, by ``index`` then arrival. Names never seen are ``""``."""
        result: list[ToolCall] = []
        for index in sorted(self._slots):
            for n, slot in enumerate(self._slots[index]):
                default_id = f"call_{index}" if n == 0 else f"call_{index}_{n}"
                result.append(ToolCall(id=slot.id or default_id, name=slot.name or "",
                                       arguments="".join(slot.arguments)))
        return result

    def __bool__(self) -> bool:
        return bool(self._slots)
