"""Plain data passed between the server's request parser, assistant and stream writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..protocol.toolcalls import ToolCall  # the wire shape is the client's too

__all__ = ["ToolSpec", "ToolCall", "Turn", "Segment", "Reply"]


@dataclass(frozen=True)
class ToolSpec:
    """A function the client offers (``tools[i].function``)."""
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One message of the conversation as the assistant understands it.

    ``text`` is plain text (SSML markup removed, speech transcribed); ``ssml`` keeps the
    original SSML document when the client sent one with ``ssml_enabled``; ``notes`` are
    facts about attachments (``a PNG image of 4 by 4 pixels``) told to the assistant.
    """
    role: Literal["system", "user", "assistant", "tool"]
    text: str = ""
    ssml: str | None = None
    notes: tuple[str, ...] = ()
    spoken: bool = False
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of the reply synthesised on its own: plain ``text`` (the transcript) and,
    when it must render through espeak's SSML mode, the ``ssml`` to speak instead."""
    text: str
    ssml: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the assistant answers: spoken/written segments, or tool calls (then no text)."""
    segments: tuple[Segment, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    #: A number the answer is about (an arithmetic result), for structured output.
    number: float | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)
